"""One screen per module: the chat itself and the modal dialogs it opens."""
