"""A pipeline's steps inside a ``dsl.ExitHandler`` whose exit step notifies a webhook.

```
notify (exit step: runs however the steps end; POSTs to notify_url when it is set)
exit-handler ─ <name>-steps (the pipeline's steps, a nested pipeline)
```

The published training and continuous-training pipelines are built this way from
their steps. The steps stay a pipeline of their own, with their outputs, because KFP
lets a pipeline return outputs only from its top level, never from inside an
``ExitHandler``: ``mlops run`` runs the steps and reads their outputs (sending the
same message itself when the run ends), and continuous training nests the training
steps.
"""

import inspect
from typing import Any

from kfp import dsl

from mlops_suite.components.factory import Components

NOTIFY_URL = "notify_url"
_NOTIFY_URL_DOC = (
    "A webhook (http or https) to POST a JSON message to when the run ends, "
    "succeeded or failed (Slack-compatible text, status, decision, reason, version); "
    "empty to send none."
)


def with_notification(
    steps: Any,
    *,
    name: str,
    description: str,
    components: Components,
    place: Any,
) -> Any:
    """Builds the pipeline that runs ``steps`` and then notifies ``notify_url``.

    The pipeline takes the parameters of ``steps`` (which must include
    ``registry_uri`` and ``model_name``) plus ``notify_url``, and returns nothing.

    Args:
        steps: A pipeline (``@dsl.pipeline``) holding every step.
        name: The pipeline's name, also shown in the message.
        description: The pipeline's description.
        components: The suite's components, built for the pipeline's image.
        place: :func:`~mlops_suite.pipelines.platform.on_target` for the target:
            the exit step reads the registry.

    Returns:
        The KFP pipeline.
    """
    given = inspect.signature(steps.pipeline_func)
    signature = given.replace(
        parameters=[
            *given.parameters.values(),
            inspect.Parameter(
                NOTIFY_URL,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default="",
                annotation=str,
            ),
        ],
        return_annotation=inspect.Signature.empty,
    )

    def pipeline(*args: Any, **kwargs: Any) -> None:
        arguments = signature.bind(*args, **kwargs).arguments
        notified = components.notify(
            notify_url=arguments.pop(NOTIFY_URL),
            pipeline_name=name,
            pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            registry_uri=arguments["registry_uri"],
            model_name=arguments["model_name"],
        )
        # It reads the registry as the run left it: never served from the cache.
        place(notified).set_caching_options(False)
        with dsl.ExitHandler(notified):
            steps(**arguments)

    # KFP reads a pipeline's parameters from its signature and their descriptions
    # from its docstring: the steps' own, plus notify_url.
    pipeline.__signature__ = signature  # type: ignore[attr-defined]
    pipeline.__doc__ = (
        f"{inspect.getdoc(steps.pipeline_func)}\n    {NOTIFY_URL}: {_NOTIFY_URL_DOC}"
    )
    pipeline.__name__ = steps.pipeline_func.__name__
    return dsl.pipeline(name=name, description=description)(pipeline)
