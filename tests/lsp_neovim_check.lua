-- A real Neovim (0.7+, headless) attaches `cove lsp` to a buffer, asks for completions and
-- accepts one as an editor does (inserts it, then runs the item's command).
-- Driven by tests/test_lsp_neovim.py, which passes the interpreter, repository, model and
-- a scratch folder through the environment and reads what this writes to stdout.
local folder = os.getenv("COVE_TEST_FOLDER")
local client_id = vim.lsp.start_client({
  name = "cove",
  cmd = { os.getenv("COVE_TEST_PYTHON"), "-m", "assistant", "lsp" },
  cmd_cwd = os.getenv("COVE_TEST_REPO"),
  cmd_env = { COVE_CONFIG = "/dev/null" },
  root_dir = folder,
  init_options = { model = os.getenv("COVE_TEST_MODEL"), minConfidence = 0,
                   acceptanceFile = folder .. "/acceptance.sqlite3" },
})
vim.cmd("edit " .. folder .. "/example.py")
local lines = {}
for i = 0, 7 do lines[#lines + 1] = string.format("value_%d = compute_%d(data)", i, i) end
vim.api.nvim_buf_set_lines(0, 0, -1, false, lines)
vim.lsp.buf_attach_client(0, client_id)
vim.wait(20000, function()
  local c = vim.lsp.get_client_by_id(client_id)
  return c ~= nil and c.server_capabilities ~= nil and next(c.server_capabilities) ~= nil
end)
local client = vim.lsp.get_client_by_id(client_id)
io.stdout:write("attached ", client.name, "\n")
for line = 0, 7 do
  local params = { textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = line, character = 19 } }
  local result = vim.lsp.buf_request_sync(0, "textDocument/completion", params, 30000)
  local items = result and result[client_id] and result[client_id].result and result[client_id].result.items or {}
  if #items > 0 then
    params.context = { triggerKind = 1 }
    local inline = vim.lsp.buf_request_sync(0, "textDocument/inlineCompletion", params, 30000)
    local item = inline[client_id].result.items[1]
    io.stdout:write(vim.fn.json_encode({ line = line, edit = items[1].textEdit, inline = item }), "\n")
    vim.api.nvim_buf_set_text(0, line, 19, line, 19, vim.split(item.insertText, "\n", { plain = true }))
    local accept = { command = item.command.command, arguments = item.command.arguments }
    vim.lsp.buf_request_sync(0, "workspace/executeCommand", accept, 30000)
    local status = vim.lsp.buf_request_sync(0, "workspace/executeCommand", { command = "cove.status" }, 30000)
    io.stdout:write(vim.fn.json_encode(status[client_id].result.acceptance.total), "\n")
    break
  end
end
vim.lsp.stop_client(client_id)
vim.wait(2000, function() return vim.lsp.get_client_by_id(client_id) == nil end)
vim.cmd("qa!")
