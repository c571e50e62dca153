"""出入境服务助手: the project's own package, importable by the Rasa server and the action server."""
