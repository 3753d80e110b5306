import type { SSTConfig } from "sst";
import { APP_NAME } from "@newstore-auth/core/settings";
import { BrokerStack } from "./stacks/BrokerStack.js";
import { ExampleConsumerStack } from "./stacks/ExampleConsumerStack.js";

export default {
  config(input) {
    return {
      name: APP_NAME,
      // `sst --region` wins over this; SST merges the CLI's value in itself.
      region: input.region ?? process.env.AWS_REGION ?? "us-east-1",
    };
  },
  // A method, not an arrow property: SST strips `stacks(app)` when it loads the config shallowly.
  stacks(app) {
    app.stack(BrokerStack);
    // The example consumer (stacks/ExampleConsumerStack.ts) is not deployed to real stages by
    // default: deploy it with NEWSTORE_AUTH_EXAMPLE_CONSUMER=1 in the deploying shell.
    if (process.env.NEWSTORE_AUTH_EXAMPLE_CONSUMER === "1") app.stack(ExampleConsumerStack);
    // The broker stack's own deploy-time options (IAM on the admin API, the alarm email) are
    // read from the deploying shell too: see stacks/options.ts.
  },
} satisfies SSTConfig;
