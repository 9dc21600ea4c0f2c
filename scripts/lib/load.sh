# Shared by scripts/bench and scripts/soak (sourced, not run): moto as STS, credvend daemons in
# a temporary home, wrk with a machine-readable report, and per-process RSS and CPU readings.
# Every process started here is recorded in `pids` and stopped by PID on exit; the temporary
# directory is removed. All traffic stays on 127.0.0.1.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
peers=${CREDVEND_PEERS_DIR:-$repo/.peers}
python=$peers/venv/bin/python
pids=()
declare -A CV_PID CV_IMDS CV_ECS CV_IMDS_TOKEN CV_ECS_TOKEN CV_CREDS_PATH CV_LOG CV_HOME

load_init() {
    if [[ ! -x $python ]]; then
        echo "$0: no Python peers in $peers/venv; run scripts/test once first" >&2
        exit 1
    fi
    if ! command -v wrk >/dev/null; then
        if [[ $(id -u) -ne 0 ]]; then
            echo "$0: wrk missing; as root: apt-get install -y wrk" >&2
            exit 1
        fi
        apt-get install -y wrk >/dev/null 2>&1 ||
            { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
    fi
    target=$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
        "$python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/credvend-load.XXXXXX")
    trap load_cleanup EXIT
    trap 'exit 130' INT TERM
    write_wrk_report
}

load_cleanup() {
    local pid
    exec 3>&- # moto's stdin: it exits by itself when this closes
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}

# Waits (bounded, 30 s) until file $1 is not empty, or process $2 exits.
wait_line() {
    local i
    for ((i = 0; i < 300; i++)); do
        [[ -s $1 ]] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

free_port() {
    "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts moto (tests/peers/moto_sts.py: seeded, signature checks on) and sets sts_url, key_id,
# secret and role_arn (the role `app` the seeded user may assume).
start_moto() {
    mkfifo "$tmp/moto.in"
    "$python" "$repo/tests/peers/moto_sts.py" <"$tmp/moto.in" >"$tmp/moto.json" 2>"$tmp/moto.log" &
    pids+=($!)
    exec 3>"$tmp/moto.in"
    if ! wait_line "$tmp/moto.json" "${pids[-1]}"; then
        cat "$tmp/moto.log" >&2
        echo "$0: moto did not start" >&2
        exit 1
    fi
    read -r sts_url key_id secret role_arn < <("$python" -c '
import json,sys; s=json.load(open(sys.argv[1]))
print(s["url"], s["access_key_id"], s["secret_access_key"], s["roles"]["app"])' "$tmp/moto.json")
}

# start_credvend NAME STS_URL RUST_LOG EXTRA_TOML [PROFILE_EXTRA]: a daemon with its own home
# (profile `app`, role `app` from the seeded user), IMDSv2-only and ECS listeners on free ports,
# the default config plus EXTRA_TOML (top-level tables such as "[server]\n..."), and its stderr
# appended to CV_LOG[NAME]. RUST_LOG empty means the default level. Waits until it serves.
start_credvend() {
    local name=$1 sts=$2 level=$3 extra=$4 profile_extra=${5:-}
    local dir=$tmp/$name home=$tmp/$name/home
    mkdir -p "$home/.aws" "$dir/state"
    printf '[profile app]\nrole_arn = %s\nsource_profile = user\nrole_session_name = bench\n%b' \
        "$role_arn" "$profile_extra" >"$home/.aws/config"
    printf '[user]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$key_id" "$secret" \
        >"$home/.aws/credentials"
    chmod 600 "$home/.aws/credentials"
    local imds_port ecs_port
    imds_port=$(free_port)
    ecs_port=$(free_port)
    {
        printf 'state_dir = "%s"\n\n' "$dir/state"
        printf '%b\n' "$extra"
        printf '[[imds]]\nlisten = "127.0.0.1:%s"\nprofile = "app"\nimdsv1 = false\n\n' "$imds_port"
        printf '[ecs]\nlisten = "127.0.0.1:%s"\nprofiles = ["app"]\n' "$ecs_port"
    } >"$dir/credvend.toml"
    local -a envs=(PATH=/usr/bin:/bin HOME="$home" AWS_ENDPOINT_URL_STS="$sts"
        HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost)
    [[ -n $level ]] && envs+=(RUST_LOG="$level")
    env -i "${envs[@]}" "$target/release/credvend" serve --config "$dir/credvend.toml" \
        2>>"$dir/credvend.log" &
    local pid=$!
    pids+=($pid)
    CV_PID[$name]=$pid CV_LOG[$name]=$dir/credvend.log CV_HOME[$name]=$home
    CV_IMDS[$name]=http://127.0.0.1:$imds_port CV_ECS[$name]=http://127.0.0.1:$ecs_port
    local token_file=$dir/state/ecs-token i ready=false
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        if [[ -s $token_file ]] && curl -sf -o /dev/null -H "Authorization: $(cat "$token_file")" \
            "${CV_ECS[$name]}/role/app"; then
            ready=true
            break
        fi
        sleep 0.1
    done
    if ! $ready; then
        cat "$dir/credvend.log" >&2
        echo "$0: credvend ($name) did not start serving" >&2
        exit 1
    fi
    CV_ECS_TOKEN[$name]=$(cat "$token_file")
    CV_IMDS_TOKEN[$name]=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' \
        "${CV_IMDS[$name]}/latest/api/token")
    local role
    role=$(curl -sf -H "X-aws-ec2-metadata-token: ${CV_IMDS_TOKEN[$name]}" \
        "${CV_IMDS[$name]}/latest/meta-data/iam/security-credentials/")
    CV_CREDS_PATH[$name]=/latest/meta-data/iam/security-credentials/$role
}

# wrk's report: one line "BENCH rps=… p99_us=… p50_us=… non2xx=… errors=… requests=…".
# BENCH_METHOD and BENCH_HEADER ("Name: value") set the request; BENCH_CLOSE=1 asks for a new
# connection per request.
write_wrk_report() {
    cat >"$tmp/report.lua" <<'EOF'
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local header = os.getenv("BENCH_HEADER")
if header and header ~= "" then
    local name, value = header:match("^([^:]+):%s*(.*)$")
    wrk.headers[name] = value
end
-- BENCH_CLOSE=1: every request on a connection of its own (the server closes after it).
if os.getenv("BENCH_CLOSE") == "1" then
    wrk.headers["Connection"] = "close"
end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("BENCH rps=%.0f p99_us=%d p50_us=%d non2xx=%d errors=%d requests=%d\n",
        summary.requests / (summary.duration / 1e6), latency:percentile(99),
        latency:percentile(50), e.status, e.connect + e.read + e.write + e.timeout,
        summary.requests))
end
EOF
}

# field LINE NAME: the number after NAME= in a BENCH line.
field() { sed "s/.*[[:space:]]$2=\\([0-9]*\\).*/\\1/" <<<" $1"; }

rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
hwm_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ticks=$(getconf CLK_TCK)

# "THREAD-NAME TICKS" for each thread of process $1 (user + system CPU time so far).
thread_ticks() {
    local t comm
    for t in /proc/"$1"/task/*; do
        comm=$(tr ' ' _ <"$t/comm") || continue
        sed 's/.*) //' "$t/stat" | awk -v c="$comm" '{ print c, $12 + $13 }'
    done 2>/dev/null
}
