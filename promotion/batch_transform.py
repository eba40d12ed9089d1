"""What SageMaker batch transform can run: the package forms a stage's model may name.

The stage's model is created from the package (`ModelPackageName`), so its containers are the
package's `InferenceSpecification.Containers`, and the pipeline runs them as a batch transform.
The SageMaker API Reference, CreateModel's `ContainerDefinition.ModelDataSource`: "Currently you
cannot use ModelDataSource in conjunction with SageMaker batch transform, SageMaker serverless
endpoints, SageMaker multi-model endpoints, and SageMaker Marketplace". So each such container
names its model data as `ModelDataUrl` (one `.tar.gz`); a `ModelDataSource` beside it is
accepted only when it names that same archive (`S3Object`, `Gzip`), so which data the job loads
is never in doubt. `AdditionalModelDataSources` are documented only as additions to the
`ModelDataSource` ("in addition to the one that you specify for ModelDataSource"): refused too.

`AdditionalInferenceSpecifications` are not run by this product's pipeline: they are promoted as
the package has them (promotion/prefixes.py copies their uncompressed prefixes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from errors import ConfigError

REFERENCE = "SageMaker API Reference, ContainerDefinition.ModelDataSource"
RUN_SPECIFICATION = "InferenceSpecification"


def check_batch_transform(view: Mapping[str, Any], *, source: str) -> None:
    """Refuse, before anything is written, a package whose model batch transform cannot run.

    Args:
        view: the package as it would be created (creatable members only).
        source: the source package ARN, for the message.

    Raises:
        ConfigError: the first container that names its model data in a form batch transform
            cannot use (one line, exit 2).
    """
    specification = view.get(RUN_SPECIFICATION) or {}
    for index, container in enumerate(specification.get("Containers") or []):
        problem = _problem(container)
        if problem:
            raise ConfigError(
                f"{source} {RUN_SPECIFICATION}.Containers.{index} {problem}, which SageMaker "
                f"batch transform cannot use ({REFERENCE}): register the model data as "
                "ModelDataUrl, one .tar.gz archive"
            )


def _problem(container: Mapping[str, Any]) -> str | None:
    url = container.get("ModelDataUrl")
    source = (container.get("ModelDataSource") or {}).get("S3DataSource")
    if container.get("AdditionalModelDataSources"):
        return "has AdditionalModelDataSources"
    if source and not url:
        return f"names its model data only as ModelDataSource ({source.get('S3DataType')})"
    if source and (
        source.get("S3Uri") != url
        or source.get("S3DataType") != "S3Object"
        or source.get("CompressionType") != "Gzip"
    ):
        return (
            f"has a ModelDataSource ({source.get('S3DataType')} {source.get('S3Uri')}) that is "
            f"not its ModelDataUrl {url}"
        )
    return None
