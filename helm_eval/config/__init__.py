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
)
from helm_eval.config._budget import SCOPES, BudgetScope, BudgetSpec, Limit, PolicyConfig, Price
from helm_eval.config._embedding import EmbeddingSpec
from helm_eval.config._judge import JudgeSpec, RejudgeSpec
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
    "HelmEvalError",
    "JudgeSpec",
    "LedgerError",
    "Limit",
    "LineDict",
    "LineList",
    "Message",
    "MissingExtraError",
    "Options",
    "PackDefaultsSpec",
    "PackSpec",
    "PolicyConfig",
    "Price",
    "ProjectConfig",
    "PromptSpec",
    "RejudgeSpec",
    "SetupError",
    "StorageError",
    "SuiteError",
    "SuiteSpec",
    "TestSpec",
    "find_config_file",
    "line_of",
    "load_project_config",
    "load_yaml",
    "load_yaml_text",
    "parse_duration",
    "validate",
]
