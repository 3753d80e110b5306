import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  ParameterNotFound,
  ParameterTier,
  PutParameterCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import { type NamedParameter, ParameterExistsError, type ParameterStore, type StoredParameter } from "../ports.js";

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
    async getMany(names) {
      const found = new Map<string, StoredParameter>();
      for (let i = 0; i < names.length; i += 10) {
        const out = await client.send(new GetParametersCommand({ Names: names.slice(i, i + 10), WithDecryption: true }));
        for (const p of out.Parameters ?? []) {
          if (p.Name && p.Value !== undefined && p.Version !== undefined) found.set(p.Name, { value: p.Value, version: p.Version });
        }
      }
      return found;
    },
    async getByPath(path) {
      const found: NamedParameter[] = [];
      let nextToken: string | undefined;
      do {
        const page = await this.getPage(path, { limit: 10, nextToken });
        found.push(...page.items);
        nextToken = page.nextToken;
      } while (nextToken);
      return found;
    },
    async getPage(path, { limit, nextToken }) {
      // SSM pages hold at most 10; a larger page is several calls, continued by NextToken.
      const items: NamedParameter[] = [];
      let NextToken = nextToken;
      do {
        const out = await client.send(
          new GetParametersByPathCommand({ Path: path, WithDecryption: true, MaxResults: Math.min(10, limit - items.length), NextToken }),
        );
        for (const p of out.Parameters ?? []) {
          if (p.Name && p.Value !== undefined && p.Version !== undefined) items.push({ name: p.Name, value: p.Value, version: p.Version });
        }
        NextToken = out.NextToken;
      } while (NextToken && items.length < limit);
      return { items, nextToken: NextToken };
    },
    async delete(name) {
      try {
        await client.send(new DeleteParameterCommand({ Name: name }));
        return true;
      } catch (error) {
        if ((error as Error).name === "ParameterNotFound") return false;
        throw error;
      }
    },
    async put(name, value, { plain = false, create = false } = {}) {
      // The advanced tier costs money: only a value over the standard 4 KB gets it.
      const tier = Buffer.byteLength(value, "utf8") > STANDARD_LIMIT_BYTES ? ParameterTier.ADVANCED : ParameterTier.STANDARD;
      let Version: number | undefined;
      try {
        ({ Version } = await client.send(
          new PutParameterCommand({
            Name: name,
            Value: value,
            Type: plain ? "String" : "SecureString",
            Overwrite: !create,
            Tier: tier,
            ...(options.kmsKeyId && !plain ? { KeyId: options.kmsKeyId } : {}),
          }),
        ));
      } catch (error) {
        if ((error as Error).name === "ParameterAlreadyExists") throw new ParameterExistsError(name);
        throw error;
      }
      if (Version === undefined) throw new Error(`SSM returned no version for ${name}`);
      return { version: Version };
    },
  };
}
