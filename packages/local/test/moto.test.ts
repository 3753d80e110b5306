import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MOTO_INSTALL_HINT, startMoto } from "../src/moto.js";
import { isAlive as alive } from "../src/processes.js";


describe("moto launcher", () => {
  it("starts moto on a free port, resets it, and stops the server process itself", async () => {
    const moto = await startMoto();
    expect(moto.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(alive(moto.pid)).toBe(true);
    await moto.reset();
    const response = await fetch(`${moto.endpoint}/moto-api/data.json`);
    expect(response.status).toBe(200);
    await moto.stop();
    expect(alive(moto.pid)).toBe(false);
  });

  it("says how to install moto when python3 lacks it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "no-moto-"));
    const fake = join(dir, "python3");
    writeFileSync(fake, "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'moto'\" >&2\nexit 1\n");
    chmodSync(fake, 0o755);
    await expect(startMoto({ python: fake })).rejects.toThrow(MOTO_INSTALL_HINT);
    expect(MOTO_INSTALL_HINT).toContain("pip install 'moto[server]'");
  });

  it("says how to install moto when there is no python3 at all", async () => {
    await expect(startMoto({ python: "/nonexistent/python3" })).rejects.toThrow("pip install 'moto[server]'");
  });
});
