//! The `caller` object of `served` and `denied` lines: who was behind the connection.
//!
//! A local process: `{"uid":1000,"user":"alice","pid":4242,"exe":"/usr/bin/python3",
//! "unit":"app.service"}` (absent parts left out, `pid` `null` with a `pid_reason` when the
//! process could not be found; a process in a container has `"container":{"id":"..."}`). A
//! container on a bridge: `{"uid":null,"container":{"id":"...","name":"web","image":"..."}}`.
//! Anything else: `{"uid":null,"reason":"..."}`.

use serde::Serialize;

use crate::identity::Caller;

/// The object, borrowed from the caller.
#[derive(Serialize)]
pub(super) struct CallerLine<'a> {
    uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exe: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<ContainerLine<'a>>,
}

#[derive(Serialize)]
struct ContainerLine<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
}

impl<'a> CallerLine<'a> {
    pub(super) fn new(caller: &'a Caller) -> Self {
        let mut line = Self {
            uid: caller.uid(),
            reason: caller.reason(),
            user: None,
            pid: None,
            pid_reason: None,
            exe: None,
            unit: None,
            container: None,
        };
        match caller {
            Caller::Process(p) => {
                line.user = p.user.as_deref();
                line.pid = Some(p.pid);
                line.pid_reason = p.no_pid.as_deref();
                line.exe = p.place.exe.as_ref().map(|e| e.display().to_string());
                line.unit = p.place.unit.as_deref();
                line.container = p.place.container.as_deref().map(|id| ContainerLine {
                    id,
                    name: None,
                    image: None,
                });
            }
            Caller::Container(c) => {
                line.container = Some(ContainerLine {
                    id: &c.id,
                    name: Some(&c.name),
                    image: Some(&c.image),
                });
            }
            Caller::Remote(_) | Caller::Unknown(_) | Caller::Unidentified => {}
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Place, Process};

    fn json(caller: &Caller) -> String {
        serde_json::to_string(&CallerLine::new(caller)).unwrap()
    }

    #[test]
    fn a_process_shows_what_is_known_of_it() {
        let found = Caller::Process(Process {
            uid: 1000,
            user: Some("alice".into()),
            pid: Some(4242),
            no_pid: None,
            place: Place {
                exe: Some("/usr/bin/python3".into()),
                unit: Some("app.service".into()),
                container: None,
            },
        });
        assert_eq!(
            json(&found),
            r#"{"uid":1000,"user":"alice","pid":4242,"exe":"/usr/bin/python3","unit":"app.service"}"#
        );
        let hidden = Caller::Process(Process {
            uid: 1001,
            user: None,
            pid: None,
            no_pid: Some("hidden".into()),
            place: Place::default(),
        });
        assert_eq!(
            json(&hidden),
            r#"{"uid":1001,"pid":null,"pid_reason":"hidden"}"#
        );
    }

    #[test]
    fn a_container_is_named_by_id_name_and_image() {
        let web = Caller::Container(std::sync::Arc::new(crate::identity::Container {
            id: "0123".into(),
            name: "web".into(),
            image: "python:3".into(),
            profile: Some("app".into()),
        }));
        assert_eq!(
            json(&web),
            r#"{"uid":null,"container":{"id":"0123","name":"web","image":"python:3"}}"#
        );
    }

    #[test]
    fn others_have_a_null_uid_and_a_reason() {
        assert_eq!(
            json(&Caller::Remote(None)),
            r#"{"uid":null,"reason":"not a process on this host"}"#
        );
        assert_eq!(
            json(&Caller::unknown("why")),
            r#"{"uid":null,"reason":"why"}"#
        );
    }
}
