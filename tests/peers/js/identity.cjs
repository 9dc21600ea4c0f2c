// The AWS SDKs for JavaScript as clients of credvend. argv[2] picks the credential provider:
//   v3-imds       fromInstanceMetadata()      (AWS_EC2_METADATA_SERVICE_ENDPOINT)
//   v3-container  fromContainerMetadata()     (AWS_CONTAINER_CREDENTIALS_FULL_URI + token)
//   v3-chain      fromNodeProviderChain()     (whatever the environment points at)
//   v2-ec2        AWS.EC2MetadataCredentials  (legacy v2 SDK)
//   v2-remote     AWS.RemoteCredentials       (legacy v2 SDK, container endpoint)
// Then it calls STS GetCallerIdentity at $AWS_ENDPOINT_URL_STS (moto) with the SDK's own STS
// client and prints one JSON line: the served access key id and the ARN STS reports.
// CommonJS on purpose: the test sets NODE_PATH to the installed node_modules.
"use strict";

const endpoint = process.env.AWS_ENDPOINT_URL_STS;
const region = "us-east-1";

async function v3(provider) {
  const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");
  const credentials = await provider();
  const sts = new STSClient({ region, endpoint, credentials: provider });
  const identity = await sts.send(new GetCallerIdentityCommand({}));
  return { access_key_id: credentials.accessKeyId, arn: identity.Arn };
}

async function v2(credentials) {
  const AWS = require("aws-sdk");
  await credentials.getPromise();
  const sts = new AWS.STS({ region, endpoint, credentials });
  const identity = await sts.getCallerIdentity({}).promise();
  return { access_key_id: credentials.accessKeyId, arn: identity.Arn };
}

async function main(mode) {
  const providers = () => require("@aws-sdk/credential-providers");
  switch (mode) {
    case "v3-imds":
      return v3(providers().fromInstanceMetadata({ timeout: 5000, maxRetries: 1 }));
    case "v3-container":
      return v3(providers().fromContainerMetadata({ timeout: 5000, maxRetries: 1 }));
    case "v3-chain":
      return v3(providers().fromNodeProviderChain());
    case "v2-ec2": {
      const AWS = require("aws-sdk");
      return v2(new AWS.EC2MetadataCredentials({ httpOptions: { timeout: 5000 } }));
    }
    case "v2-remote": {
      const AWS = require("aws-sdk");
      return v2(new AWS.RemoteCredentials({ httpOptions: { timeout: 5000 } }));
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

main(process.argv[2]).then(
  (result) => console.log(JSON.stringify(result)),
  (error) => {
    console.error(`${error.name}: ${error.message}`);
    process.exit(1);
  },
);
