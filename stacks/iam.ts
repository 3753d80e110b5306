// IAM pieces more than one function's role needs, so the broker, the admin API and consumers get
// the same ARNs and the same KMS conditions rather than copies that could drift apart.
import { Stack } from "aws-cdk-lib";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { IConstruct } from "constructs";

/** An SSM parameter's (or path's) ARN: no '/' between "parameter" and a name that starts with one. */
export function parameterArn(scope: IConstruct, name: string): string {
  const { partition, region, account } = Stack.of(scope);
  return `arn:${partition}:ssm:${region}:${account}:parameter${name}`;
}

export type SsmKeyAction = "kms:Decrypt" | "kms:Encrypt" | "kms:GenerateDataKey";

/**
 * KMS for SecureString parameters. They use the AWS managed SSM key, whose id is not known up
 * front: allow any key of the account, but only through SSM and only the one aliased aws/ssm.
 * Readers need Decrypt alone; writers also Encrypt and GenerateDataKey.
 */
export function ssmKeyStatement(scope: IConstruct, actions: readonly SsmKeyAction[]): PolicyStatement {
  const { partition, region, account } = Stack.of(scope);
  return new PolicyStatement({
    actions: [...actions],
    resources: [`arn:${partition}:kms:${region}:${account}:key/*`],
    conditions: {
      StringEquals: { "kms:ViaService": `ssm.${region}.amazonaws.com` },
      "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/aws/ssm" },
    },
  });
}
