"""nbgrader's cell-metadata check with its JSON schema compiled once per process.

nbgrader's CheckCellMetadata calls jsonschema.validate for each graded cell, which checks the
schema itself every time: about 0.07 s a notebook, a tenth of a warm worker's time. The rules and
messages are nbgrader's own; only the compiled validator is kept.
"""
from __future__ import annotations

import traceback

import jsonschema
from nbgrader.nbgraderformat import ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator, SchemaTooNewError, SchemaTooOldError
from nbgrader.nbgraderformat.v3 import MetadataValidatorV3
from nbgrader.preprocessors import CheckCellMetadata


#: schema version -> its validator, compiled from nbgrader's own schema file on first use
_COMPILED: dict = {}


def _compiled(version: int, schema: dict):
    if version not in _COMPILED:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _COMPILED[version] = cls(schema)
    return _COMPILED[version]


class _CompiledSchemaCheck(BaseMetadataValidator):
    """BaseMetadataValidator.validate_cell with a validator compiled once (sits under V3 in the MRO)."""

    def validate_cell(self, cell) -> None:
        if "nbgrader" not in cell.metadata:
            return
        meta = cell.metadata["nbgrader"]
        schema = meta.get("schema_version", 0)
        if schema < self.schema_version:
            raise SchemaTooOldError(f"Outdated schema version: {schema} (expected {self.schema_version})",
                                    schema, self.schema_version)
        if schema > self.schema_version:
            raise SchemaTooNewError(f"Schema version is too new: {schema} (expected {self.schema_version})",
                                    schema, self.schema_version)
        error = jsonschema.exceptions.best_match(_compiled(self.schema_version, self.schema).iter_errors(meta))
        if error is not None:
            raise error


class CompiledMetadataValidator(MetadataValidatorV3, _CompiledSchemaCheck):
    """nbgrader's V3 validator; its call to the base check lands on the compiled one."""


class CheckCellMetadataCompiled(CheckCellMetadata):
    """CheckCellMetadata, same rules and messages, with the schema compiled once."""

    def preprocess(self, nb, resources):
        try:
            CompiledMetadataValidator().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            msg = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(msg)
            raise ValidationError(msg)
        return nb, resources
