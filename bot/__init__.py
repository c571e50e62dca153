"""出入境服务助手: the project's own package, importable by both the Rasa and the action server."""
