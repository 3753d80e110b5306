// An example integration: one Lambda that gets a token for one client through TokenConsumer and
// calls NewStore with it. It shows integration teams the wiring; sst.config.ts adds it only on
// request, so real stages do not get it.
import { Function, use, type StackContext } from "sst/constructs";
import { consumerDefaults } from "@newstore-auth/core/settings";
import { BrokerStack } from "./BrokerStack.js";
import { TokenConsumer } from "./TokenConsumer.js";

/** The tenant whose API the example calls: copied from the deploying shell when set there. */
const TENANT_ENV = "NEWSTORE_TENANT";

export function ExampleConsumerStack({ stack }: StackContext) {
  const { names, bus, key } = use(BrokerStack);

  const tenant = process.env[TENANT_ENV];
  const fn = new Function(stack, "ExampleConsumer", {
    handler: "packages/functions/src/example-consumer.handler",
    runtime: "nodejs20.x",
    // Room for the SDK's wait on the broker and then the NewStore call.
    timeout: Math.ceil(consumerDefaults.timeoutMs / 1000) + 20,
    // SST defaults to "active", which adds X-Ray write actions on Resource "*".
    tracing: "disabled",
    environment: tenant ? { [TENANT_ENV]: tenant } : {},
  });

  const consumer = new TokenConsumer(stack, "TokenConsumer", {
    name: "example-consumer",
    clientIds: ["example-client"],
    bus: bus.cdk.eventBus,
    parameterPrefix: names.parameterPrefix,
    key,
    functions: [fn],
  });

  stack.addOutputs({ ExampleConsumerFunction: fn.functionName, ExampleReplyQueueUrl: consumer.queue.queueUrl });
  return { fn, consumer };
}
