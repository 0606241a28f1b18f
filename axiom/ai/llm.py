"""The OpenAI client (any OpenAI-compatible chat completions API, base URL configurable).

Every call is timed and reported to ``on_call`` (model, provider, duration, outcome) so the caller
can audit it; the reported details never include the prompt.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

CallHook = Callable[[dict[str, Any]], None]


class LLMError(RuntimeError):
    """The model could not be reached or did not answer in the form asked for."""


class ChatModel:
    def __init__(
        self,
        *,
        base_url: str = "",
        api_key: str = "",
        model: str = "gpt-4o-mini",
        timeout: float = 30.0,
        on_call: CallHook | None = None,
    ) -> None:
        from openai import OpenAI  # the `openai` extra

        # The client refuses to start without a key; a local or proxied endpoint may not need one.
        self.client = OpenAI(
            base_url=base_url or None, api_key=api_key or "unused", timeout=timeout, max_retries=1
        )
        self.model = model
        self.provider = "openai" if not base_url else f"openai-compatible:{base_url}"
        self.on_call = on_call

    def ask_json(
        self, system: str, user: str, *, purpose: str, on_call: CallHook | None = None
    ) -> dict[str, Any]:
        """One chat completion whose answer must be a JSON object; ``on_call`` overrides the hook."""
        hook = on_call or self.on_call
        started = time.perf_counter()
        outcome = "ok"
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                temperature=0,
                response_format={"type": "json_object"},
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            )
            text = response.choices[0].message.content or ""
            answer = json.loads(text)
            if not isinstance(answer, dict):
                raise ValueError("not a JSON object")
            return answer
        except ValueError as exc:
            outcome = "bad_answer"
            raise LLMError(f"the model's answer is not a JSON object: {exc}") from exc
        except Exception as exc:
            outcome = "error"
            raise LLMError(f"model call failed: {type(exc).__name__}") from exc
        finally:
            if hook is not None:
                hook(
                    {
                        "model": self.model,
                        "version": self.model,
                        "provider": self.provider,
                        "purpose": purpose,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                        "outcome": outcome,
                    }
                )
