"""Turn KServe payload-logger CloudEvents into rows of served traffic.

KServe's agent (``spec.predictor.logger``) sends every inference request and every
successful (HTTP 200) response to the logger URL as a CloudEvent 1.0. The request
and its response share the event id and are sent independently, so the response may
arrive first. The sink (:mod:`mlops_suite.monitoring.sink`) takes each event through
these modules, in this order:

* :mod:`.cloudevents`: the HTTP request to a :class:`~.cloudevents.CloudEvent`
  (binary or structured mode), or an :class:`~.cloudevents.EventError` naming what
  is wrong;
* :mod:`.inference`: a V1 or V2 request or response to a
  :class:`~.inference.LoggedEvent` (instances or predictions), which is also the
  journal record;
* :mod:`.columns`: the columns of a logged row, the model's features from its
  ``metadata.json``, and the Arrow type of each column;
* :mod:`.rows`: a request and its response to one row per instance, and rows to an
  Arrow table.
"""
