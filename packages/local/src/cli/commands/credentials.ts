// credentials add | update | list | show | remove: the admin API, one request per command
// (list --all follows the pages).
import { type Command, Option } from "commander";
import type { CredentialsMetadata, CredentialsView } from "@newstore-auth/core/admin";
import { Tenant } from "@newstore-auth/core/schemas";
import { adminApi } from "@newstore-auth/core/settings";
import { adminApiClient, type ReplaceCredentials } from "../api.js";
import { checkClientId, type Context, contextOf, wholeNumber } from "../context.js";
import { usageError } from "../errors.js";
import { fields, table } from "../output.js";
import { readSecret } from "../secret.js";

const SECRET_HELP = `
The client secret is never an argument (argv shows in ps and shell history): it is read from
stdin when stdin is not a terminal (all of it, one trailing newline stripped), otherwise asked
for twice with echo off.`;

export function registerCredentials(program: Command): void {
  const credentials = program
    .command("credentials")
    .description("manage the NewStore API clients the broker holds credentials for (admin API)")
    .addHelpText("after", `\nExamples:\n  $ newstore-auth credentials list\n  $ newstore-auth credentials show orders-sync`);

  credentials
    .command("add")
    .description("store a new API client's credentials; the broker gets its token on first request")
    .argument("<clientId>", "the NewStore API client id")
    .addOption(new Option("--role <role...>", "role (scope) to request; repeat or comma-separate for several").makeOptionMandatory())
    .option("--tenant <tenant>", "NewStore tenant, e.g. acme-sandbox (default: the API's default tenant)")
    .addHelpText(
      "after",
      `${SECRET_HELP}

Examples:
  $ newstore-auth credentials add orders-sync --role iam:providers:read     # asks for the secret
  $ aws secretsmanager get-secret-value --secret-id orders-sync --query SecretString --output text \\
      | newstore-auth credentials add orders-sync --role shipments:read --role iam:users:read --tenant acme`,
    )
    .action(async (clientId: string, options: { role: string[]; tenant?: string }, command: Command) => {
      const ctx = contextOf(command);
      checkClientId(clientId);
      const tenant = checkTenant(options.tenant);
      const roles = splitRoles(options.role);
      const clientSecret = await readSecret(`client secret of ${clientId}`);
      const created = await api(ctx).create({ client_id: clientId, client_secret: clientSecret, roles, ...(tenant ? { tenant } : {}) });
      ctx.out.result(created, () => [`created ${created.clientId}`, ...metadataLines(created)]);
    });

  credentials
    .command("update")
    .description("replace an API client's roles, tenant or secret; the broker then refreshes its token")
    .argument("<clientId>", "the NewStore API client id")
    .option("--role <role...>", "the new roles (replace the old ones); repeat or comma-separate")
    .option("--tenant <tenant>", "the new tenant")
    .option("--new-secret", "replace the client secret too (read from stdin or asked for)")
    .addHelpText(
      "after",
      `${SECRET_HELP}

Examples:
  $ newstore-auth credentials update orders-sync --new-secret            # asks for the new secret
  $ printf %s "$NEW_SECRET" | newstore-auth credentials update orders-sync --new-secret
  $ newstore-auth credentials update orders-sync --role shipments:read,iam:users:read`,
    )
    .action(async (clientId: string, options: { role?: string[]; tenant?: string; newSecret?: boolean }, command: Command) => {
      const ctx = contextOf(command);
      checkClientId(clientId);
      if (!options.role && !options.tenant && !options.newSecret) throw usageError("nothing to change: give --role, --tenant or --new-secret");
      const body: ReplaceCredentials = {};
      if (options.role) body.roles = splitRoles(options.role);
      if (options.tenant) body.tenant = checkTenant(options.tenant);
      if (options.newSecret) body.client_secret = await readSecret(`new client secret of ${clientId}`);
      const updated = await api(ctx).replace(clientId, body);
      ctx.out.result(updated, () => [`updated ${updated.clientId}; the broker refreshes its token`, ...metadataLines(updated)]);
    });

  credentials
    .command("list")
    .description("list the API clients with their token state (never a secret or a token)")
    .option("--limit <n>", `clients per page, 1-${adminApi.maxPageSize}`, wholeNumber("--limit", 1, adminApi.maxPageSize))
    .option("--all", "follow the pages to the end")
    .addHelpText("after", `\nExamples:\n  $ newstore-auth credentials list --all\n  $ newstore-auth credentials list --json | jq -r '.items[].clientId'`)
    .action(async (options: { limit?: number; all?: boolean }, command: Command) => {
      const ctx = contextOf(command);
      const client = api(ctx);
      const items: CredentialsView[] = [];
      let nextToken: string | undefined;
      do {
        const page = await client.list({ limit: options.limit ?? (options.all ? adminApi.maxPageSize : undefined), nextToken });
        items.push(...page.items);
        nextToken = page.nextToken;
      } while (options.all && nextToken);
      ctx.out.result({ items, ...(nextToken ? { nextToken } : {}) }, () => {
        const lines =
          items.length === 0
            ? ["no credentials"]
            : table(
                ["CLIENT ID", "TENANT", "ROLES", "TOKEN", "EXPIRES AT"],
                items.map((i) => [i.clientId, i.tenant, i.roles.join(","), i.token.state, i.token.expiresAt ?? "-"]),
              );
        return nextToken ? [...lines, `(more: --all lists every client)`] : lines;
      });
    });

  credentials
    .command("show")
    .description("show one API client's metadata and token state (never the secret or the token)")
    .argument("<clientId>", "the NewStore API client id")
    .addHelpText("after", `\nExamples:\n  $ newstore-auth credentials show orders-sync\n  $ newstore-auth credentials show orders-sync --json`)
    .action(async (clientId: string, _options: unknown, command: Command) => {
      const ctx = contextOf(command);
      const view = await api(ctx).show(checkClientId(clientId));
      ctx.out.result(view, () =>
        fields([
          ["clientId", view.clientId],
          ...metadataEntries(view),
          ["token", view.token.state],
          ["version", view.token.version],
          ["expiresAt", view.token.expiresAt],
          ["lastRefreshAt", view.token.lastRefreshAt],
        ]),
      );
    });

  credentials
    .command("remove")
    .description("remove an API client's credentials; the broker deletes its token and publishes token.revoked")
    .argument("<clientId>", "the NewStore API client id")
    .addHelpText("after", `\nExample:\n  $ newstore-auth credentials remove orders-sync`)
    .action(async (clientId: string, _options: unknown, command: Command) => {
      const ctx = contextOf(command);
      await api(ctx).remove(checkClientId(clientId));
      ctx.out.result({ clientId, removed: true }, () => `removed ${clientId}; the broker revokes the token`);
    });
}

const api = (ctx: Context) => adminApiClient(ctx.config.apiUrl, ctx.config.apiKey);

function splitRoles(values: string[]): string[] {
  const roles = values.flatMap((v) => v.split(",")).map((r) => r.trim()).filter(Boolean);
  if (roles.length === 0) throw usageError("--role needs at least one role");
  return roles;
}

function checkTenant(tenant: string | undefined): string | undefined {
  if (tenant !== undefined && !Tenant.safeParse(tenant).success) throw usageError("--tenant must be 1-63 of a-z 0-9 - (e.g. acme-sandbox)");
  return tenant;
}

function metadataEntries(m: CredentialsMetadata): Array<[string, string]> {
  return [
    ["tenant", m.tenant],
    ["roles", m.roles.join(", ")],
    ["createdAt", m.createdAt],
    ["updatedAt", m.updatedAt],
  ];
}

const metadataLines = (m: CredentialsMetadata) => fields(metadataEntries(m));
