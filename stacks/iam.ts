// IAM pieces more than one function's role needs, so the broker, the admin API and consumers get
// the same ARNs and the same KMS conditions rather than copies that could drift apart.
import { Stack } from "aws-cdk-lib";
import { type IPrincipal, PolicyStatement } from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import type { IConstruct } from "constructs";

/** An SSM parameter's (or path's) ARN: no '/' between "parameter" and a name that starts with one. */
export function parameterArn(scope: IConstruct, name: string): string {
  const { partition, region, account } = Stack.of(scope);
  return `arn:${partition}:ssm:${region}:${account}:parameter${name}`;
}

export type SsmKeyAction = "kms:Decrypt" | "kms:Encrypt" | "kms:GenerateDataKey";

/** What SecureString writers need of their key (SSM encrypts standard and advanced parameters). */
export const WRITER_KEY_ACTIONS: readonly SsmKeyAction[] = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"];
/** What readers need: a consumer never writes a SecureString. */
export const READER_KEY_ACTIONS: readonly SsmKeyAction[] = ["kms:Decrypt"];

/** Only when SSM calls KMS for the caller (GetParameter WithDecryption, PutParameter): never KMS directly. */
export function viaSsm(scope: IConstruct) {
  return { StringEquals: { "kms:ViaService": `ssm.${Stack.of(scope).region}.amazonaws.com` } };
}

/**
 * KMS for SecureString parameters under the AWS managed SSM key (consumers of a broker whose key
 * they are not given), whose id is not known up front: allow any key of the account, but only
 * through SSM and only the one aliased aws/ssm.
 */
export function ssmKeyStatement(scope: IConstruct, actions: readonly SsmKeyAction[]): PolicyStatement {
  const { partition, region, account } = Stack.of(scope);
  return new PolicyStatement({
    actions: [...actions],
    resources: [`arn:${partition}:kms:${region}:${account}:key/*`],
    conditions: {
      ...viaSsm(scope),
      "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/aws/ssm" },
    },
  });
}

/** An identity-policy statement: `actions` on this one key, only through SSM. */
export function keyStatement(scope: IConstruct, key: kms.IKey, actions: readonly SsmKeyAction[]): PolicyStatement {
  return new PolicyStatement({ actions: [...actions], resources: [key.keyArn], conditions: viaSsm(scope) });
}

/** A key-policy statement naming `principal`: `actions` on the key itself ("*"), only through SSM. */
export function keyPolicyStatement(
  scope: IConstruct,
  sid: string,
  principal: IPrincipal,
  actions: readonly SsmKeyAction[],
): PolicyStatement {
  return new PolicyStatement({ sid, principals: [principal], actions: [...actions], resources: ["*"], conditions: viaSsm(scope) });
}
