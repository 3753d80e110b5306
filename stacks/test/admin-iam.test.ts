// The deploying shell's security and alarm options, on a synth of their own (SST keeps its app
// state per process, so one synth per file): NEWSTORE_AUTH_ADMIN_AUTH=iam makes every admin
// method but GET /health require IAM (SigV4) AND the API key; NEWSTORE_AUTH_ALARM_EMAIL sends
// the alarms to an SNS topic with that email subscribed. The defaults are in security.test.ts.
import type { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { AdminEnv, Env } from "@newstore-auth/core/settings";
import { BrokerStack } from "../BrokerStack.js";
import { adminAuthorization, alarmEmail, StackEnv } from "../options.js";
import {
  ACCOUNT,
  ADMIN_ROUTES,
  apiMethods,
  expectNoCors,
  functionByHandler,
  only,
  PARTITION,
  REGION,
  render,
  synthesizeInFile,
} from "./template.js";

// A stage of its own: the other stack tests build the same functions in parallel (see synthesize()).
const STAGE = "admin-iam-test";
const EMAIL = "newstore-auth-ops@example.com";

let template: Template;
const synthesized = synthesizeInFile("BrokerStack (NEWSTORE_AUTH_ADMIN_AUTH=iam, alarm email)", {
  stage: STAGE,
  stacks: [BrokerStack],
  shellEnv: [...Object.values(Env), ...Object.values(AdminEnv), ...Object.values(StackEnv)],
  setEnv: { [StackEnv.adminAuth]: "iam", [StackEnv.alarmEmail]: EMAIL },
});
beforeAll(() => {
  [template] = synthesized() as [Template];
});

const outputs = () => template.toJSON().Outputs as Record<string, { Value: unknown }>;

describe("the admin API with NEWSTORE_AUTH_ADMIN_AUTH=iam", () => {
  it("requires IAM (AWS_IAM) and still the API key on every method but GET /health", () => {
    const methods = apiMethods(template);
    expect(methods.map((m) => m.route).sort()).toEqual([...ADMIN_ROUTES].sort());
    for (const { route, properties } of methods) {
      if (route === "GET /health") continue;
      expect(properties.AuthorizationType, route).toBe("AWS_IAM");
      expect(properties.ApiKeyRequired, route).toBe(true);
      expect(properties, route).not.toHaveProperty("AuthorizerId");
    }
    expect(template.findResources("AWS::ApiGateway::Authorizer")).toEqual({});
  });

  it("leaves GET /health open: no IAM, no key", () => {
    const [health] = apiMethods(template).filter((m) => m.route === "GET /health");
    expect(health!.properties.AuthorizationType).toBe("NONE");
    expect(health!.properties.ApiKeyRequired).toBe(false);
  });

  it("keeps the key and its usage plan (both are required, the plan still throttles)", () => {
    const [keyId] = only(template.findResources("AWS::ApiGateway::ApiKey"), "API key");
    const [, planKey] = only(template.findResources("AWS::ApiGateway::UsagePlanKey"), "usage plan key");
    expect(render(planKey.Properties.KeyId)).toBe(`\${${keyId}}`);
  });

  it("outputs the mode and the ARN callers' policies allow execute-api:Invoke on", () => {
    const [apiId] = only(template.findResources("AWS::ApiGateway::RestApi"), "REST API");
    const [stageId, stage] = only(template.findResources("AWS::ApiGateway::Stage"), "API stage");
    expect(stage.Properties.StageName).toBe(STAGE);
    expect(outputs().AdminApiAuthorization?.Value).toBe("api-key+iam");
    // Every method and path of the deployed stage, nothing of another stage or API.
    expect(render(outputs().AdminApiInvokeArn?.Value)).toBe(
      `arn:${PARTITION}:execute-api:${REGION}:${ACCOUNT}:\${${apiId}}/\${${stageId}}/*/*`,
    );
  });

  it("has no CORS either", () => {
    expectNoCors(template);
  });

  it("changes nothing for the admin function (API Gateway checks the signature)", () => {
    const variables = functionByHandler(template, "admin.handler")[1].Properties.Environment.Variables;
    expect(Object.keys(variables).filter((k) => k.startsWith("NEWSTORE_")).sort()).toEqual(
      [Env.stage, Env.parameterPrefix, Env.busName, Env.kmsKeyId, AdminEnv.brokerQueueUrl].sort(),
    );
    expect(variables).not.toHaveProperty(StackEnv.adminAuth);
  });
});

describe("the alarms with NEWSTORE_AUTH_ALARM_EMAIL", () => {
  it("notify one SNS topic with the address subscribed by email", () => {
    const [topicId, topic] = only(template.findResources("AWS::SNS::Topic"), "alarm topic");
    expect(topic.Properties.TopicName).toBe(`newstore-auth-${STAGE}-alarms`);
    const [, subscription] = only(template.findResources("AWS::SNS::Subscription"), "subscription");
    expect(subscription.Properties.Protocol).toBe("email");
    expect(subscription.Properties.Endpoint).toBe(EMAIL);
    expect(render(subscription.Properties.TopicArn)).toBe(`\${${topicId}}`);
    expect(render(outputs().AlarmTopicArn?.Value)).toBe(`\${${topicId}}`);
  });

  it("each of the three alarms has the topic as its one alarm action", () => {
    const [topicId] = only(template.findResources("AWS::SNS::Topic"), "alarm topic");
    const alarms = Object.values(template.findResources("AWS::CloudWatch::Alarm"));
    expect(alarms.map((a) => a.Properties.AlarmName).sort()).toEqual(
      [`newstore-auth-${STAGE}-broker-dlq-depth`, `newstore-auth-${STAGE}-broker-errors`, `newstore-auth-${STAGE}-broker-throttles`].sort(),
    );
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions.map((a: unknown) => render(a)), alarm.Properties.AlarmName).toEqual([`\${${topicId}}`]);
      expect(alarm.Properties.ActionsEnabled ?? true).toBe(true);
    }
  });
});

describe("the options' values", () => {
  it("NEWSTORE_AUTH_ADMIN_AUTH: unset or api-key is the key alone; iam adds IAM; anything else stops the deploy", () => {
    expect(adminAuthorization(undefined)).toBe("api-key");
    expect(adminAuthorization("")).toBe("api-key");
    expect(adminAuthorization("api-key")).toBe("api-key");
    expect(adminAuthorization("iam")).toBe("api-key+iam");
    expect(adminAuthorization(" IAM ")).toBe("api-key+iam");
    expect(() => adminAuthorization("sigv4")).toThrow(/NEWSTORE_AUTH_ADMIN_AUTH must be unset, "api-key" or "iam", got "sigv4"/);
    expect(() => adminAuthorization("none")).toThrow(/NEWSTORE_AUTH_ADMIN_AUTH/);
  });

  it("NEWSTORE_AUTH_ALARM_EMAIL: one address or nothing", () => {
    expect(alarmEmail(undefined)).toBeUndefined();
    expect(alarmEmail("  ")).toBeUndefined();
    expect(alarmEmail(" ops@example.com ")).toBe("ops@example.com");
    expect(() => alarmEmail("ops")).toThrow(/NEWSTORE_AUTH_ALARM_EMAIL must be one email address/);
    expect(() => alarmEmail("a@example.com,b@example.com")).toThrow(/one email address/);
  });
});
