/**
 * The language client: `cove lsp` over stdio, ghost text in every language (file and
 * untitled documents), and the middleware that keeps requests the user would not want off
 * the server.
 */
import * as vscode from "vscode";
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";
import { SECTION, debounceMs, isEnabled, serverSettings } from "./settings";

/** What the client tells the rest of the extension. */
export interface ClientEvents {
  /** A completion request goes to the server (true) or came back (false). */
  busy(working: boolean): void;
  /** The server process ended on its own. */
  closed(): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createClient(command: string, keys: string[], log: vscode.LogOutputChannel,
  events: ClientEvents): LanguageClient {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  // The client appends --stdio; `cove lsp` accepts it.
  const server: ServerOptions = { command, args: ["lsp"], transport: TransportKind.stdio, options: { cwd: folder } };
  const options: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    initializationOptions: () => serverSettings(keys),
    outputChannel: log,
    traceOutputChannel: log,
    // One notification of the extension's own says what went wrong; no restart loop.
    errorHandler: {
      error: () => ({ action: ErrorAction.Continue, handled: true }),
      closed: () => {
        events.closed();
        return { action: CloseAction.DoNotRestart, handled: true };
      },
    },
    middleware: {
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        if (!isEnabled(document.languageId)) {
          return undefined;
        }
        const editor = vscode.window.activeTextEditor;
        if (editor?.document === document && editor.selections.length > 1) {
          return undefined; // one completion cannot fit several cursors
        }
        const wait = debounceMs();
        if (context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic && wait > 0) {
          await sleep(wait);
          if (token.isCancellationRequested) {
            return undefined;
          }
        }
        events.busy(true);
        try {
          return await next(document, position, context, token);
        } finally {
          events.busy(false);
        }
      },
      // Ghost text only: the suggest-menu item would cost a second completion per keystroke,
      // and an open menu takes Tab away from the ghost text.
      provideCompletionItem: () => undefined,
      workspace: {
        // The server asks for the `cove` section: answer with its keys only.
        configuration: (params) => params.items.map((item) => (item.section === SECTION ? serverSettings(keys) : null)),
      },
    },
  };
  return new LanguageClient("cove", "Cove", server, options);
}
