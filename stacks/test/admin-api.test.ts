// The admin API in the broker stack, synthesized in the real SST app (functions built, no AWS
// calls): the routes and their API key requirement, the usage plan, the admin function's
// environment and its least-privilege role (DESIGN, "Admin API").
import type { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { AdminEnv, adminApi, Env, namesFor } from "@newstore-auth/core/settings";
import { BrokerStack } from "../BrokerStack.js";
import { StackEnv } from "../options.js";
import {
  ACCOUNT,
  ADMIN_ROUTES,
  apiMethods,
  expectNoCors,
  functionByHandler,
  list,
  only,
  PARTITION,
  REGION,
  render,
  roleOf,
  roleStatements,
  synthesizeInFile,
  type Statement,
} from "./template.js";

// A stage of its own: the other stack tests build the same functions in parallel (see synthesize()).
const STAGE = "admin-test";
const names = namesFor(STAGE);

// The "deploying shell": one admin option set, one not; and an API key and URL, which the stack
// must not copy (on AWS, API Gateway checks the key; the URL is the CLI's).
const shell = {
  [AdminEnv.allowedRoles]: "catalog:product-export:read,shipments:read",
  [AdminEnv.apiKey]: "key-from-the-deploying-shell",
  [AdminEnv.apiUrl]: "https://example.invalid/admin",
};

let template: Template;
const synthesized = synthesizeInFile("BrokerStack (admin API)", {
  stage: STAGE,
  stacks: [BrokerStack],
  shellEnv: [...Object.values(Env), ...Object.values(AdminEnv), ...Object.values(StackEnv)],
  setEnv: shell,
});
beforeAll(() => {
  [template] = synthesized() as [Template];
});

const admin = () => functionByHandler(template, "admin.handler");
const restApi = () => only(template.findResources("AWS::ApiGateway::RestApi"), "REST API");
const apiStage = () => only(template.findResources("AWS::ApiGateway::Stage"), "API stage");
const apiKey = () => only(template.findResources("AWS::ApiGateway::ApiKey"), "API key");
const kmsKey = () => only(template.findResources("AWS::KMS::Key"), "KMS key");
const brokerQueue = () =>
  only(template.findResources("AWS::SQS::Queue", { Properties: { QueueName: names.requestQueueName } }), "broker queue");
const outputs = () => template.toJSON().Outputs as Record<string, { Value: unknown }>;

const methods = () => apiMethods(template);
const ROUTES = ADMIN_ROUTES;

describe("the admin REST API", () => {
  it("is a regional REST API named after the stage, deployed to a stage of that name", () => {
    const [apiId, api] = restApi();
    expect(api.Properties.Name).toBe("newstore-auth-admin-test-admin");
    expect(api.Properties.EndpointConfiguration).toEqual({ Types: ["REGIONAL"] });
    const [, stage] = apiStage();
    expect(stage.Properties.StageName).toBe(STAGE);
    expect(render(stage.Properties.RestApiId)).toBe(`\${${apiId}}`);
    const [deploymentId] = only(template.findResources("AWS::ApiGateway::Deployment"), "deployment");
    expect(render(stage.Properties.DeploymentId)).toBe(`\${${deploymentId}}`);
    // The account-wide CloudWatch role is not this stack's to create.
    expect(template.findResources("AWS::ApiGateway::Account")).toEqual({});
  });

  it("has exactly the DESIGN's routes, and no CORS (no OPTIONS, no Access-Control headers)", () => {
    const routes = methods().map((m) => m.route);
    expect(routes.filter((r) => r.startsWith("OPTIONS "))).toEqual([]);
    expect([...routes].sort()).toEqual([...ROUTES].sort());
    expectNoCors(template);
  });

  it("requires the API key on every method except GET /health", () => {
    const all = methods();
    expect(all.length).toBe(ROUTES.length);
    for (const { route, properties } of all) {
      expect(properties.HttpMethod, route).not.toBe("OPTIONS");
      if (route === "GET /health") continue;
      expect(properties.ApiKeyRequired, route).toBe(true);
    }
    const [health] = all.filter((m) => m.route === "GET /health");
    expect(health!.properties.ApiKeyRequired, "health needs no key").toBe(false);
  });

  it("proxies every method to the admin function", () => {
    const [adminId] = admin();
    for (const { route, properties } of methods()) {
      expect(properties.AuthorizationType, route).toBe("NONE");
      const integration = properties.Integration;
      expect(integration.Type, route).toBe("AWS_PROXY");
      expect(integration.IntegrationHttpMethod, route).toBe("POST");
      expect(render(integration.Uri), route).toBe(
        `arn:${PARTITION}:apigateway:${REGION}:lambda:path/2015-03-31/functions/\${${adminId}.Arn}/invocations`,
      );
    }
  });

  it("lets API Gateway invoke the admin function from each deployed method only", () => {
    const [adminId] = admin();
    const [apiId] = restApi();
    const [stageId] = apiStage();
    const permissions = Object.values(template.findResources("AWS::Lambda::Permission")).filter(
      (p) => render(p.Properties.FunctionName) === `\${${adminId}.Arn}`,
    );
    for (const p of permissions) {
      expect(p.Properties.Action).toBe("lambda:InvokeFunction");
      expect(p.Properties.Principal).toBe("apigateway.amazonaws.com");
    }
    const base = `arn:${PARTITION}:execute-api:${REGION}:${ACCOUNT}:\${${apiId}}/\${${stageId}}`;
    // API Gateway matches a path parameter with '*' in the method ARN.
    const arn = (route: string) => {
      const [verb, path] = route.split(" ") as [string, string];
      return `${base}/${verb}${path.replace("{clientId}", "*")}`;
    };
    expect(permissions.map((p) => render(p.Properties.SourceArn)).sort()).toEqual(ROUTES.map(arn).sort());
  });

  it("throttles through a usage plan tied to the API's stage and the key", () => {
    const [apiId] = restApi();
    const [stageId] = apiStage();
    const [keyId, key] = apiKey();
    const [planId, plan] = only(template.findResources("AWS::ApiGateway::UsagePlan"), "usage plan");
    expect(plan.Properties.Throttle).toEqual({
      RateLimit: adminApi.throttleRatePerSecond,
      BurstLimit: adminApi.throttleBurst,
    });
    expect(plan.Properties.Throttle).toEqual({ RateLimit: 5, BurstLimit: 10 });
    expect(plan.Properties.ApiStages).toHaveLength(1);
    const [apiStageRef] = plan.Properties.ApiStages;
    expect(render(apiStageRef.ApiId)).toBe(`\${${apiId}}`);
    expect(render(apiStageRef.Stage)).toBe(`\${${stageId}}`);

    const [, planKey] = only(template.findResources("AWS::ApiGateway::UsagePlanKey"), "usage plan key");
    expect(render(planKey.Properties.UsagePlanId)).toBe(`\${${planId}}`);
    expect(render(planKey.Properties.KeyId)).toBe(`\${${keyId}}`);
    expect(planKey.Properties.KeyType).toBe("API_KEY");

    // API Gateway generates the value: it is in neither the template nor the outputs.
    expect(key.Properties).not.toHaveProperty("Value");
    expect(key.Properties.Enabled ?? true).toBe(true);
    expect(JSON.stringify(template.toJSON())).not.toContain(shell[AdminEnv.apiKey]);
  });

  it("outputs the API's URL and the key's id", () => {
    const [apiId] = restApi();
    const [stageId] = apiStage();
    const [keyId] = apiKey();
    const all = outputs();
    expect(render(all.AdminApiUrl?.Value)).toBe(
      `https://\${${apiId}}.execute-api.${REGION}.\${AWS::URLSuffix}/\${${stageId}}/`,
    );
    expect(render(all.AdminApiKeyId?.Value)).toBe(`\${${keyId}}`);
    // Without NEWSTORE_AUTH_ADMIN_AUTH=iam: the key alone, and no invoke ARN to grant (admin-iam.test.ts).
    expect(all.AdminApiAuthorization?.Value).toBe("api-key");
    // RestApi's own URL output (hashed id) is dropped in favour of AdminApiUrl.
    expect(Object.keys(all).filter((name) => name.startsWith("AdminApi")).sort()).toEqual([
      "AdminApiAuthorization",
      "AdminApiKeyId",
      "AdminApiUrl",
    ]);
  });
});

describe("the admin function", () => {
  it("runs on nodejs20.x without X-Ray, 15 s and 256 MB", () => {
    const [, fn] = admin();
    expect(fn.Properties.Runtime).toBe("nodejs20.x");
    expect(fn.Properties.Timeout).toBe(15);
    expect(fn.Properties.MemorySize).toBe(256);
    expect(fn.Properties.TracingConfig?.Mode ?? "PassThrough").toBe("PassThrough");
    expect(fn.Properties).not.toHaveProperty("ReservedConcurrentExecutions");
  });

  it("gets the names, the stage's KMS key, the broker queue's URL and only the admin options set in the shell", () => {
    const [, fn] = admin();
    const [keyId] = kmsKey();
    const [queueId] = brokerQueue();
    const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
    expect(variables[Env.stage]).toBe(STAGE);
    expect(variables[Env.parameterPrefix]).toBe("/newstore-auth/admin-test");
    expect(variables[Env.busName]).toBe("newstore-auth-admin-test");
    expect(render(variables[AdminEnv.brokerQueueUrl])).toBe(`\${${queueId}}`);
    expect(render(variables[Env.kmsKeyId])).toBe(`\${${keyId}.Arn}`);
    expect(variables[AdminEnv.allowedRoles]).toBe(shell[AdminEnv.allowedRoles]);
    expect(variables).not.toHaveProperty(AdminEnv.defaultTenant); // unset in the shell
    // API Gateway checks the key on AWS: the function must not have one to check.
    expect(variables).not.toHaveProperty(AdminEnv.apiKey);
    expect(variables).not.toHaveProperty("NEWSTORE_AUTH_API_KEY");
    expect(variables).not.toHaveProperty(AdminEnv.apiUrl);
    const ours = Object.keys(variables).filter((key) => key.startsWith("NEWSTORE_"));
    expect(ours.sort()).toEqual(
      [Env.stage, Env.parameterPrefix, Env.busName, Env.kmsKeyId, AdminEnv.brokerQueueUrl, AdminEnv.allowedRoles].sort(),
    );
  });
});

describe("the admin function's role", () => {
  const ssm = (name: string) => `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:parameter${name}`;
  const credentials = ssm("/newstore-auth/admin-test/credentials/*");
  const credentialsPath = ssm("/newstore-auth/admin-test/credentials");
  const tokens = ssm("/newstore-auth/admin-test/tokens/*");
  const statements = (): Statement[] => roleStatements(template, roleOf(template, admin()[1])[0]);
  const ofService = (service: string) => statements().filter((s) => s.Action.some((a) => a.startsWith(`${service}:`)));
  const shape = (s: Statement) => ({ Action: [...s.Action].sort(), Resource: [...s.Resource].sort(), Condition: s.Condition });

  it("is exactly the statements DESIGN needs", () => {
    const [queueId] = brokerQueue();
    const [keyId] = kmsKey();
    const all = statements();
    for (const s of all) {
      expect(s.Effect, JSON.stringify(s.raw)).toBe("Allow");
      expect(s.raw).not.toHaveProperty("NotAction");
      expect(s.raw).not.toHaveProperty("NotResource");
    }
    const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));
    expect(all.map(shape).sort(byJson)).toEqual(
      [
        { Action: ["ssm:DeleteParameter", "ssm:GetParameter", "ssm:PutParameter"], Resource: [credentials], Condition: undefined },
        { Action: ["ssm:GetParametersByPath"], Resource: [credentialsPath], Condition: undefined },
        { Action: ["ssm:GetParameter", "ssm:GetParameters"], Resource: [tokens], Condition: undefined },
        {
          Action: ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
          // The stage's own key, only through SSM (security.test.ts checks the key and its policy).
          Resource: [`\${${keyId}.Arn}`],
          Condition: { StringEquals: { "kms:ViaService": `ssm.${REGION}.amazonaws.com` } },
        },
        { Action: ["sqs:SendMessage"], Resource: [`\${${queueId}.Arn}`], Condition: undefined },
      ].sort(byJson),
    );
    const [, role] = roleOf(template, admin()[1]);
    expect(list(role.Properties.ManagedPolicyArns).map((arn) => render(arn))).toEqual([
      `arn:${PARTITION}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`,
    ]);
  });

  it("writes and deletes only credentials/*", () => {
    const writes = ofService("ssm").filter((s) => s.Action.some((a) => /^ssm:(Put|Delete)/.test(a)));
    expect([...new Set(writes.flatMap((s) => s.Resource))]).toEqual([credentials]);
  });

  it("only reads tokens", () => {
    const onTokens = ofService("ssm").filter((s) => s.Resource.some((r) => r.includes("/tokens")));
    expect(onTokens).toHaveLength(1);
    expect([...onTokens[0]!.Action].sort()).toEqual(["ssm:GetParameter", "ssm:GetParameters"]);
    for (const action of onTokens[0]!.Action) expect(action).toMatch(/^ssm:Get/);
  });

  it("sends only to the broker's queue, and publishes nothing on the bus", () => {
    const [queueId] = brokerQueue();
    const sqs = ofService("sqs");
    expect(sqs.flatMap((s) => s.Action)).toEqual(["sqs:SendMessage"]);
    expect(sqs.flatMap((s) => s.Resource)).toEqual([`\${${queueId}.Arn}`]);
    expect(ofService("events")).toEqual([]);
  });
});
