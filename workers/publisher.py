"""TaskPublisher for the listener: one Celery send per instance, confirmed by the broker."""

from __future__ import annotations

import contextlib

from celery import Celery
from kombu.exceptions import ChannelError

from axiom.domain.messages import InstanceMessage
from axiom.pipeline.ports import PublishError
from workers.task_names import GPU_QUEUE, TASK_PROCESS_INSTANCE


class CeleryPublisher:
    def __init__(self, app: Celery, queue: str = "default") -> None:
        self.app = app
        self.queue = queue

    def publish_instance(self, message: InstanceMessage) -> None:
        try:
            # With confirm_publish (RabbitMQ) this returns only after the broker's ack; a nack or a
            # lost connection raises, and the caller refuses the instance.
            self.app.send_task(
                TASK_PROCESS_INSTANCE,
                args=[message.to_dict()],
                queue=self.queue,
                routing_key=self.queue,
                retry=True,
                retry_policy={"max_retries": 3, "interval_start": 0.1, "interval_step": 0.5},
            )
        except Exception as exc:
            raise PublishError(
                f"task for {message.sop_instance_uid} not confirmed: {type(exc).__name__}"
            ) from exc

    def queued_instances(self, queues: tuple[str, ...] = ("high", "default", GPU_QUEUE)) -> int | None:
        """Instance tasks waiting in the broker (ready, not yet handed to a worker); None when the
        broker cannot be asked. The spool sweep republishes nothing while any wait."""
        try:
            with self.app.connection_for_write() as conn:
                total = 0
                for queue in queues:
                    channel = conn.channel()
                    try:
                        total += channel.queue_declare(queue=queue, passive=True).message_count
                    except ChannelError:
                        pass  # not declared (no worker serves it yet): nothing waits there
                    finally:
                        with contextlib.suppress(Exception):
                            channel.close()
                return total
        except Exception:
            return None
