"""Writes kserve-schema.json: a JSON Schema of KServe's resources, read from the `kserve` SDK's own models.

The `kserve` and `kubernetes` wheels describe every resource as generated model classes whose `openapi_types`
(attribute -> type) and `attribute_map` (attribute -> JSON key) are the API's field list. This reads them from the
wheels with `ast` (nothing is imported or installed) and writes one definition per class that the roots reach, with
unknown fields forbidden and the fields the models refuse to leave unset marked required.

    pip download --no-deps kserve==0.21.0 kubernetes==37.0.1 -d /tmp/wheels
    python deploy/kserve/schema/generate.py /tmp/wheels/kserve-*.whl /tmp/wheels/kubernetes-*.whl
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import zipfile
from pathlib import Path
from typing import Any

ROOTS = {"ServingRuntime": "V1alpha1ServingRuntime", "InferenceService": "V1beta1InferenceService"}
OUTPUT = Path(__file__).with_name("kserve-schema.json")
MODEL_DIRS = ("kserve/models/", "kubernetes/client/models/")
SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string"},
    "date": {"type": "string"},
    "object": {},  # int-or-string fields (ports, maxSurge) and free-form ones
    # Named in kserve's models without a class of their own: Kubernetes quantities ("2", "4Gi" or a number).
    "ResourceQuantity": {"type": ["string", "number"]},
    "V1beta1MetricQuantity": {"type": ["string", "number"]},
    "V1Time": {"type": "string"},  # metav1.Time, an RFC 3339 timestamp
    # Named only under `status`, which the controller writes: left free-form.
    "KnativeDevServingPkgApisServingV1TrafficTarget": {"type": "object"},
    # ServingRuntimeSpec.workerSpec (multi-node serving) names a class the SDK does not ship: left free-form.
    "V1alpha1WorkerSpec": {"type": "object"},
}
# kserve names some Kubernetes types by their Go package path (K8sIoApiAppsV1DeploymentStrategy); the kubernetes
# client names the same class by version and kind only (V1DeploymentStrategy).
GO_PACKAGE_NAME = re.compile(r"K8sIoApi[A-Z][a-z]+(V\d+(?:alpha\d+|beta\d+)?[A-Z]\w*)")
KSERVE_REQUIRED = re.compile(r"Invalid value for `(\w+)`, must not be `None`")


def _dict_literal(node: ast.stmt, name: str) -> dict[str, str] | None:
    """The literal of `name = {...}` or `name: ClassVar[...] = {...}` in a class body."""
    if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
        return ast.literal_eval(node.value)
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
        return ast.literal_eval(node.value) if node.value is not None else None
    return None


def read_models(wheel: Path) -> dict[str, tuple[dict[str, str], dict[str, str], set[str]]]:
    """class name -> (openapi_types, attribute_map, required attributes) for every generated model in a wheel."""
    models = {}
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if not member.startswith(MODEL_DIRS) or not member.endswith(".py") or member.endswith("__init__.py"):
                continue
            source = archive.read(member).decode("utf-8")
            for cls in ast.parse(source).body:
                if not isinstance(cls, ast.ClassDef):
                    continue
                types = attrs = None
                required: set[str] = set()
                for node in cls.body:
                    found_types = _dict_literal(node, "openapi_types")
                    found_attrs = _dict_literal(node, "attribute_map")
                    types = types if found_types is None else found_types
                    attrs = attrs if found_attrs is None else found_attrs
                    # kubernetes' pydantic models: a field without Optional[...] has no default and is required.
                    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                        annotation = ast.unparse(node.annotation)
                        if not annotation.startswith(("Optional[", "ClassVar[")):
                            required.add(node.target.id)
                if types is not None and attrs is not None:
                    # kserve's legacy models: the setter refuses None when client-side validation is on.
                    required |= set(KSERVE_REQUIRED.findall(source)) if member.startswith("kserve/") else set()
                    models[cls.name] = (types, attrs, required & set(types))
    return models


def build(models: dict[str, tuple[dict[str, str], dict[str, str], set[str]]]) -> dict[str, Any]:
    definitions: dict[str, Any] = {}
    pending = list(ROOTS.values())

    def schema_of(type_name: str) -> dict[str, Any]:
        type_name = type_name.strip()
        if match := re.fullmatch(r"(?:list|List)\[(.+)\]", type_name):
            return {"type": "array", "items": schema_of(match.group(1))}
        if match := re.fullmatch(r"(?:dict\(str, (.+)\)|Dict\[str, (.+)\])", type_name):
            return {"type": "object", "additionalProperties": schema_of(match.group(1) or match.group(2))}
        if type_name in SCALARS:
            return dict(SCALARS[type_name])
        if match := GO_PACKAGE_NAME.fullmatch(type_name):
            type_name = match.group(1)
        if type_name not in models:
            raise SystemExit(f"no model class named {type_name}: add it to SCALARS")
        pending.append(type_name)
        return {"$ref": f"#/$defs/{type_name}"}

    while pending:
        name = pending.pop()
        if name in definitions:
            continue
        types, attrs, required = models[name]
        definitions[name] = {}  # reserve the name: models refer to themselves (JSONSchemaProps-like recursion)
        definition: dict[str, Any] = {
            "type": "object",
            "properties": {attrs[attr]: schema_of(types[attr]) for attr in sorted(types)},
            "additionalProperties": False,
        }
        if required:
            definition["required"] = sorted(attrs[attr] for attr in required)
        definitions[name] = definition
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "KServe resources, from the kserve SDK's generated models",
        "x-roots": ROOTS,
        "$defs": dict(sorted(definitions.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kserve_wheel", type=Path)
    parser.add_argument("kubernetes_wheel", type=Path)
    args = parser.parse_args()
    models: dict[str, tuple[dict[str, str], dict[str, str], set[str]]] = {}
    for wheel in (args.kubernetes_wheel, args.kserve_wheel):  # kserve's own classes win a name clash
        models.update(read_models(wheel))
    schema = build(models)
    schema["x-source"] = [
        {"wheel": wheel.name, "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}
        for wheel in (args.kserve_wheel, args.kubernetes_wheel)
    ]
    OUTPUT.write_text(json.dumps(schema, indent=1) + "\n", encoding="utf-8")
    print(f"{OUTPUT}: {len(schema['$defs'])} definitions")


if __name__ == "__main__":
    main()
