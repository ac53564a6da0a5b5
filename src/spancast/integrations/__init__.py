"""Record builders: generation records from LLM client libraries, for apps not behind a gateway.

``Generation.from_openai`` (see :mod:`spancast.integrations.openai`) builds a record from an OpenAI
chat completion, plain or streamed; :mod:`spancast.integrations.litellm` is a LiteLLM callback that
emits one record per call. The openai builder never imports ``openai`` (it reads objects and dicts
alike); only importing ``spancast.integrations.litellm`` imports LiteLLM.
"""

__all__: list[str] = []
