"""Configuration and suite models, and loading them with file:line errors."""

from helm_eval._errors import (
    BudgetCut,
    ConfigError,
    EndpointError,
    HelmEvalError,
    LedgerError,
    MissingExtraError,
    SetupError,
    StorageError,
    SuiteError,
    Unavailable,
)
from helm_eval.config._budget import SCOPES, BudgetScope, BudgetSpec, Limit, PolicyConfig, Price
from helm_eval.config._docs import json_schema
from helm_eval.config._embedding import EmbeddingSpec
from helm_eval.config._gate import GATE_RULES, GateRule, GateSpec
from helm_eval.config._judge import JudgeModel, JudgeSpec, RejudgeSpec
from helm_eval.config._matrix import MatrixEntry, ModelSpec
from helm_eval.config._pack import PACK_PREFIX, PackDefaultsSpec, PackSpec
from helm_eval.config._project import (
    CONFIG_FILENAMES,
    DEFAULT_ENDPOINT_NAME,
    ENV_API_KEY,
    ENV_ENDPOINT,
    ENV_MODEL,
    EndpointSpec,
    ProjectConfig,
    find_config_file,
    load_project_config,
    parse_duration,
)
from helm_eval.config._suite import (
    RESERVED_REQUEST_FIELDS,
    AssertionSpec,
    DefaultTestSpec,
    Message,
    Options,
    PromptSpec,
    RepeatSpec,
    SuiteSpec,
    TestSpec,
)
from helm_eval.config._validate import validate
from helm_eval.config._yaml import LineDict, LineList, line_of, load_yaml, load_yaml_text

__all__ = [
    "CONFIG_FILENAMES",
    "DEFAULT_ENDPOINT_NAME",
    "ENV_API_KEY",
    "ENV_ENDPOINT",
    "ENV_MODEL",
    "GATE_RULES",
    "PACK_PREFIX",
    "RESERVED_REQUEST_FIELDS",
    "SCOPES",
    "AssertionSpec",
    "BudgetCut",
    "BudgetScope",
    "BudgetSpec",
    "ConfigError",
    "DefaultTestSpec",
    "EmbeddingSpec",
    "EndpointError",
    "EndpointSpec",
    "GateRule",
    "GateSpec",
    "HelmEvalError",
    "JudgeModel",
    "JudgeSpec",
    "LedgerError",
    "Limit",
    "LineDict",
    "LineList",
    "MatrixEntry",
    "Message",
    "MissingExtraError",
    "ModelSpec",
    "Options",
    "PackDefaultsSpec",
    "PackSpec",
    "PolicyConfig",
    "Price",
    "ProjectConfig",
    "PromptSpec",
    "RejudgeSpec",
    "RepeatSpec",
    "SetupError",
    "StorageError",
    "SuiteError",
    "SuiteSpec",
    "TestSpec",
    "Unavailable",
    "find_config_file",
    "json_schema",
    "line_of",
    "load_project_config",
    "load_yaml",
    "load_yaml_text",
    "parse_duration",
    "validate",
]
