import {
  GetParameterCommand,
  GetParametersByPathCommand,
  ParameterNotFound,
  ParameterTier,
  PutParameterCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import type { ParameterStore } from "../ports.js";

const STANDARD_LIMIT_BYTES = 4096;

export interface SsmStoreOptions {
  /** KMS key for SecureStrings; unset uses the account's aws/ssm key. */
  kmsKeyId?: string;
}

export function ssmParameterStore(client: SSMClient, options: SsmStoreOptions = {}): ParameterStore {
  return {
    async get(name) {
      try {
        const { Parameter } = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
        if (Parameter?.Value === undefined || Parameter.Version === undefined) return undefined;
        return { value: Parameter.Value, version: Parameter.Version };
      } catch (error) {
        if (error instanceof ParameterNotFound || (error as Error).name === "ParameterNotFound") return undefined;
        throw error;
      }
    },
    async getByPath(path) {
      const found: Array<{ name: string; value: string; version: number }> = [];
      let NextToken: string | undefined;
      do {
        const out = await client.send(new GetParametersByPathCommand({ Path: path, WithDecryption: true, NextToken }));
        for (const p of out.Parameters ?? []) {
          if (p.Name && p.Value !== undefined && p.Version !== undefined) found.push({ name: p.Name, value: p.Value, version: p.Version });
        }
        NextToken = out.NextToken;
      } while (NextToken);
      return found;
    },
    async put(name, value, { plain = false } = {}) {
      // The advanced tier costs money: only a value over the standard 4 KB gets it.
      const tier = Buffer.byteLength(value, "utf8") > STANDARD_LIMIT_BYTES ? ParameterTier.ADVANCED : ParameterTier.STANDARD;
      const { Version } = await client.send(
        new PutParameterCommand({
          Name: name,
          Value: value,
          Type: plain ? "String" : "SecureString",
          Overwrite: true,
          Tier: tier,
          ...(options.kmsKeyId && !plain ? { KeyId: options.kmsKeyId } : {}),
        }),
      );
      if (Version === undefined) throw new Error(`SSM returned no version for ${name}`);
      return { version: Version };
    },
  };
}
