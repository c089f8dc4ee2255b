/**
 * The `cove.*` settings: which of them the server reads, and the per-language switch.
 *
 * The server's settings are the `cove.*` keys declared in package.json less the few that
 * only the extension reads, so the list lives in one place (package.json, which
 * tests/test_vscode_browser.py checks against the server's own defaults in lsp/settings.py).
 */
import * as vscode from "vscode";

export const SECTION = "cove";

/** Keys the extension reads itself; the server would refuse them as unknown settings. */
const EXTENSION_ONLY = new Set(["enable", "path", "debounceMs", "trace.server"]);

/** The server's keys (camelCase, without `cove.`), read from the extension's package.json. */
export function serverKeys(packageJSON: { contributes: { configuration: { properties: object } } }): string[] {
  return Object.keys(packageJSON.contributes.configuration.properties)
    .map((key) => key.slice(SECTION.length + 1))
    .filter((key) => !EXTENSION_ONLY.has(key));
}

/** The settings the server gets as initializationOptions and on every change: all of its
 * keys, defaults included, so that a setting reset to its default reaches the server too. */
export function serverSettings(keys: string[]): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(SECTION);
  return Object.fromEntries(keys.map((key) => [key, config.get(key)]));
}

/** `cove.enable` as a map from language id (or `*`) to on/off. */
function enableMap(): Record<string, boolean> {
  return { ...vscode.workspace.getConfiguration(SECTION).get<Record<string, boolean>>("enable", { "*": true }) };
}

/** Whether completions are on for `languageId`: its own entry, else `*`, else on. */
export function isEnabled(languageId: string | undefined): boolean {
  const map = enableMap();
  if (languageId !== undefined && typeof map[languageId] === "boolean") {
    return map[languageId];
  }
  return map["*"] !== false;
}

/** Turn completions on or off for one language, or for all (`*`) in the user's settings. */
export async function setEnabled(languageId: string, on: boolean): Promise<void> {
  const map = enableMap();
  map[languageId] = on;
  await vscode.workspace.getConfiguration(SECTION).update("enable", map, vscode.ConfigurationTarget.Global);
}

export function debounceMs(): number {
  return Math.max(0, vscode.workspace.getConfiguration(SECTION).get<number>("debounceMs", 0));
}
