"""API plumbing: bearer authentication, role gates, the typed endpoint decorator and list answers.

Every /api/v1 route is declared with `endpoint(...)`: spectree validates the request against the
Pydantic models in portal.api.schemas (the view receives `json`, `query` or `form` already
typed), checks the answer against its model, and generates the OpenAPI document from both.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, make_response, request
from pydantic import BaseModel, ValidationError
from spectree import Response as Answers
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.plugins.flask_plugin import FlaskPlugin
from sqlalchemy import Select
from werkzeug.datastructures import FileStorage

from portal.api import schemas
from portal.domain.accounts import api_token_for, api_token_hash
from portal.domain.errors import MESSAGES, DomainError
from portal.domain.permissions import may_use_endpoint
from portal.extensions import db
from portal.models import User
from portal.models.base import utcnow
from portal.transactions import end_transaction_keeping_loaded, may_write
from portal.web.pagination import (
    PageArgs,
    encode_cursor,
    exact_count,
    keyset_args,
    keyset_page,
    paginate,
    paginate_rows,
)
from portal.web.ratelimit import check_api_rate, count_api_request
from portal.web.security import check_storable

PUBLIC_ENDPOINTS = {"api.openapi", "api.reference"}
API_PREFIX = "/api/v1"
# Statuses every operation may answer besides its own (documented on each operation).
COMMON_ERRORS = {
    400: "invalid_request：请求格式不正确（不是 JSON 对象），或含有无法处理的字符（如 NUL）",
    401: "unauthorized：缺少或无效的令牌",
    403: "forbidden / role_required：角色不符；"
    "password_change_required：子账号须先在网页登录并修改初始密码",
    429: "api_rate_limited：令牌请求过于频繁（error.retry_after 与 Retry-After 头给出秒数）",
    422: "validation_error：字段类型或取值有误，error.field 为 JSON 路径（如 orders[3].lines[0]"
    ".quantity）；未知字段、数字当字符串、字符串当布尔值都会被拒绝",
}
# Methods whose request may carry a body (an operation without one refuses it).
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Answers that are files, not JSON: media types by operation (path, method).
FILE_ANSWERS: dict[tuple[str, str], dict[str, str]] = {}


def _validation_failed(
    req: Any, resp: Any, error: Exception | None, instance: Any, adapter: Any
) -> None:
    """spectree's before-hook: a request that failed validation becomes our 422 (or 400)."""
    if error is None:
        return
    raise validation_error(error)  # type: ignore[arg-type]


def _answer_checked(
    req: Any, resp: Any, error: Exception | None, instance: Any, adapter: Any
) -> None:
    """spectree's after-hook: an answer off its schema is our bug, never the client's."""
    if error is not None:
        raise RuntimeError(f"{request.endpoint}: answer does not match its schema: {error}")


class _FlaskPlugin(FlaskPlugin):
    """spectree's Flask plugin, leaving file answers (streamed or sent) unread."""

    def validate_response(self, resp: Any, *args: Any, **kwargs: Any) -> Any:
        payload = resp[0] if isinstance(resp, tuple) else resp
        if isinstance(payload, Response) and (payload.is_streamed or payload.direct_passthrough):
            return make_response(resp), None
        if not (current_app.config["API_CHECK_ANSWERS"] or current_app.debug):
            # Our own JSON read back and validated: a fifth of an order page's time. The test
            # suite (and the schemathesis run) checks every answer; production trusts them.
            return make_response(resp), None
        return super().validate_response(resp, *args, **kwargs)


class _Spec(SpecTree):
    """SpecTree that makes each model's JSON schema once: spectree makes it again for every
    route the model answers on (the Error model alone on every route, five times), which was
    a third of the time it takes to import the portal — paid by every process that starts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._made: dict[tuple[Any, str], tuple[str, Any]] = {}

    def _add_model(self, model: Any, mode: Any = "validation") -> str:
        made = self._made.get((model, mode))
        if made is None:
            name = super()._add_model(model, mode)
            made = self._made[(model, mode)] = (name, self.models[name])
        name, schema = made
        self.models[name] = schema  # the last route's use names the schema, as before
        return name


spec = _Spec(
    backend=_FlaskPlugin,
    title="代发门户 API",
    version="1.0.0",
    mode="strict",
    annotations=True,
    path="api/v1/docs-unused",
    security_schemes=[
        SecurityScheme(
            name="bearer",
            data=SecuritySchemeData(type="http", scheme="bearer", description="设置 → 接口令牌"),
        )
    ],
    security={"bearer": []},
    before=_validation_failed,
    after=_answer_checked,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)


def json_path(location: Sequence[int | str]) -> str:
    """('orders', 3, 'lines', 0, 'quantity') → 'orders[3].lines[0].quantity'."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


ERROR_WORDS = {
    "missing": "缺少字段 {path}",
    "extra_forbidden": "未知字段 {path}",
    "string_type": "{path} 必须是字符串",
    "bool_type": "{path} 必须是布尔值 true 或 false",
    "int_type": "{path} 必须是整数",
    "int_parsing": "{path} 必须是整数",
    "int_from_float": "{path} 必须是整数",
    "list_type": "{path} 必须是数组",
    "dict_type": "{path} 必须是对象",
    "model_type": "{path} 必须是对象",
    "model_attributes_type": "{path} 必须是对象",
    "literal_error": "{path} 必须是 {expected} 之一",
    "string_too_long": "{path} 最多 {max_length} 个字符",
    "string_too_short": "{path} 不能为空",
    "too_long": "{path} 最多 {max_length} 项",
    "too_short": "{path} 至少 {min_length} 项",
    "greater_than_equal": "{path} 不能小于 {ge}",
    "less_than_equal": "{path} 不能大于 {le}",
    "string_pattern_mismatch": "{path} 格式不正确",
    "invalid_date": "{path} 必须是 YYYY-MM-DD 格式的日期",
}


# Pydantic error types in a body that have a code of their own (the same as the web forms').
ERROR_CODES = {"string_too_long": "field_too_long"}
TYPE_HINTS = {"price": '，单位为元，例如 "12.50"', "amount": '，单位为元，例如 "-12.50"'}


def validation_error(error: ValidationError, prefix: str = "") -> DomainError:
    """The first problem of a failed validation as our error: code, Chinese message, JSON path.

    A custom error whose type is one of our codes (too_many_orders, nothing_selected) keeps
    that code; everything else is `validation_error`.
    """
    first = error.errors(include_url=False)[0]
    location = [part for part in first["loc"] if part != "body"]
    path = json_path([prefix, *location] if prefix else location) or prefix or "body"
    kind = first["type"]
    context = {key: value for key, value in (first.get("ctx") or {}).items()}
    if kind in MESSAGES and kind != "validation_error":
        return DomainError(kind, first["msg"], field=path)
    words = ERROR_WORDS.get(kind)
    message = words.format(path=path, **context) if words else f"{path}：{first['msg']}"
    if kind == "string_type":
        message += TYPE_HINTS.get(str(location[-1]) if location else "", "")
    in_query = isinstance(getattr(schemas, error.title, None), type) and issubclass(
        getattr(schemas, error.title), schemas.Query
    )
    code = "validation_error" if in_query else ERROR_CODES.get(kind, "validation_error")
    return DomainError(code, message, field=path)


def endpoint(
    answer: type[BaseModel] | None = None,
    *,
    status: int = 200,
    errors: dict[int, str] | None = None,
    also: dict[int, tuple[type[BaseModel], str]] | None = None,
    files: dict[str, str] | None = None,
    raw_text: bool = False,
    guard: Callable[[], None] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an API route: its answer model (for `status`), its documented error statuses
    (besides COMMON_ERRORS) and, for downloads, the file media types (`files`).

    Request models come from the view's annotations (`json`, `query`, `form`). Text no column
    can hold (NUL, lone surrogates) in a JSON body refuses the whole request, unless the view
    checks each item itself (`raw_text`, the order upsert reports such an order per item).
    `guard()` runs before the body is judged (another tenant's object is 404 whatever it says).
    """
    answers: dict[str, Any] = {}
    ok_description = "文件" if files else "成功"
    answers[f"HTTP_{status}"] = (answer, ok_description) if answer else (None, ok_description)
    for code, (model, description) in (also or {}).items():
        answers[f"HTTP_{code}"] = (model, description)
    for code, description in {**COMMON_ERRORS, **(errors or {})}.items():
        answers.setdefault(f"HTTP_{code}", (schemas.Error, description))

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        def before(req: Any, resp: Any, error: Exception | None, instance: Any, adapter: Any):
            if guard is not None:
                guard()
            _refuse_a_body_not_taken(view)
            _require_json_object(view)
            if not raw_text and request.is_json:
                check_storable(_strings_in(request.get_json(silent=True)))
            _validation_failed(req, resp, error, instance, adapter)

        validated = spec.validate(resp=Answers(**answers), before=before)(view)
        if files:
            validated._file_answers = files  # type: ignore[attr-defined]
        return validated

    return decorate


def _refuse_a_body_not_taken(view: Callable[..., Any]) -> None:
    """An operation without a request body refuses a body that says something: a field it would
    silently ignore (`{"dry_run": true}` on a run that then runs for real) is an unknown field,
    as in any body. Nothing, or `{}`, is fine."""
    if request.method not in BODY_METHODS or {"json", "form"} & view.__annotations__.keys():
        return
    if not request.get_data(cache=True).strip():
        return
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        if body:
            field = json_path([next(iter(body))])
            message = ERROR_WORDS["extra_forbidden"].format(path=field)
            raise DomainError("validation_error", message, field=field)
        return
    raise DomainError("invalid_request", "此接口不接受请求体")


def _require_json_object(view: Callable[..., Any]) -> None:
    if "json" not in view.__annotations__ or request.method in ("GET", "DELETE"):
        return
    if not request.is_json:
        raise DomainError("invalid_request", "请求体必须是 JSON（Content-Type: application/json）")
    if not isinstance(request.get_json(silent=True), dict):
        raise DomainError("invalid_request", "请求体必须是 JSON 对象")


def read_json_once() -> None:
    """Decode a JSON body before validation: nesting deeper than the decoder's limit is a bad
    request, not a crash (Flask's silent mode catches only ValueError)."""
    if request.is_json:
        try:
            request.get_json(silent=True)
        except RecursionError:
            raise DomainError("invalid_request", "请求体必须是 JSON 对象") from None


def _strings_in(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON document, keys included (iteratively: no recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def authenticate_request() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token_hash = api_token_hash(token.strip()) if scheme.lower() == "bearer" else None
    if token_hash is None:
        raise DomainError("unauthorized")
    # Counted before the token is read (portal.web.ratelimit says why); an unknown token is
    # refused as such, not as over the limit.
    counted = count_api_request(token_hash, utcnow())
    record = api_token_for(token_hash, writing=counted.in_transaction)
    if record is None:
        raise DomainError("unauthorized")
    check_api_rate(counted, record.rate_tat)
    user = record.user
    if user.must_change_password:
        # A member's password someone else chose: like the web (portal.domain.authz), nothing works
        # until the member changed it on first login.
        raise DomainError("password_change_required")
    g.api_user = user
    g.profile = user.shop_profile
    if g.profile is None:
        raise DomainError("role_required")
    if not may_use_endpoint(user, request.endpoint):
        raise DomainError("forbidden")
    if may_write():
        # A writing request counted itself and stamped last_used_at in its transaction.
        db.session.commit()
    elif counted.in_transaction:
        # A read counted itself first in its own transaction: end it, keeping the user it read.
        end_transaction_keeping_loaded()
    read_json_once()
    return None


def install_api_role_gate(bp: Blueprint, role: str) -> None:
    @bp.before_request
    def api_role_gate() -> None:
        if api_user().role != role:
            raise DomainError("forbidden")


def api_user() -> User:
    return g.api_user


def page_of(args: schemas.PageQuery) -> PageArgs:
    return PageArgs(page=min(args.page, 1_000_000), per_page=args.per_page)


def list_answer(
    query: Select[Any], serialize: Callable[[Any], dict[str, Any]], args: schemas.PageQuery
) -> Response:
    return page_answer(query, lambda items: [serialize(item) for item in items], args)


def page_answer(
    query: Select[Any],
    serialize_page: Callable[[list[Any]], list[dict[str, Any]]],
    args: schemas.PageQuery,
    *,
    rows: bool = False,
) -> Response:
    """A page of `query` as {items, page, per_page, total}; `rows` for multi-column selects."""
    page = page_of(args)
    result = (paginate_rows if rows else paginate)(query, page)
    return jsonify(
        items=serialize_page(list(result.items)),
        page=page.page,
        per_page=page.per_page,
        total=result.total,
    )


def walk_answer(
    query: Select[Any],
    key: Any,
    row_key: Callable[[Any], int],
    serialize_page: Callable[[list[Any]], list[dict[str, Any]]],
    args: schemas.PageQuery,
    *,
    entities: bool,
) -> Response:
    """A list by cursor when the client walks (`after`), else by page (page_answer).

    By cursor: `{"items", "per_page", "next_after"}` — pass next_after back as `after` until
    it is null; `total` only with `count=exact` (a count reads every matching row). Rows come
    by `key` ascending (an id), so an ERP walks a million orders with one index range per page.
    `entities`: the query selects ORM entities (take each row's first element), else rows
    of several columns (each row whole, by page too).
    """
    walk = keyset_args(50, current_app.config["API_MAX_PER_PAGE"])
    if walk is None:
        return page_answer(query, serialize_page, args, rows=not entities)
    rows, more = keyset_page(query, key, walk)
    items = [row[0] for row in rows] if entities else rows
    body: dict[str, Any] = {
        "items": serialize_page(items),
        "per_page": walk.per_page,
        "next_after": encode_cursor(row_key(items[-1])) if more else None,
    }
    if walk.exact:
        body["total"] = exact_count(query)
    return jsonify(body)


def items_answer(items: Iterable[Any], serialize: Callable[[Any], dict[str, Any]]) -> Response:
    return jsonify(items=[serialize(item) for item in items])


def openapi_document() -> Response:
    """The generated document as JSON, generated once per app (routes and schemas are fixed
    once the app is made)."""
    extensions = current_app.extensions
    if "portal.openapi" not in extensions:
        extensions["portal.openapi"] = current_app.json.dumps(build_document())
    return current_app.response_class(extensions["portal.openapi"], mimetype="application/json")


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document, generated by spectree from the routes and the schemas; paths
    are given relative to the server /api/v1, and download answers carry their media types."""
    generated = copy.deepcopy(spec.spec)
    paths: dict[str, Any] = {}
    for path, operations in generated["paths"].items():
        relative = path.removeprefix(API_PREFIX) or "/"
        for operation in operations.values():
            operation.pop("tags", None)
            if not operation.get("description"):
                operation.pop("description", None)
            for parameter in operation.get("parameters", []):
                if not parameter.get("description"):
                    parameter.pop("description", None)
        paths[relative] = operations
    for (path, method), media in _file_answers().items():
        answer = paths[path][method]["responses"]["200"]
        answer["content"] = {
            media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in media
        }
    generated["paths"] = paths
    generated["servers"] = [{"url": API_PREFIX}]
    generated.pop("tags", None)
    return generated


def uploaded_file(form: schemas.Upload | None) -> FileStorage:
    """The uploaded `file` of a multipart request, or a 422 naming it."""
    upload = form.file if form is not None else None
    if not isinstance(upload, FileStorage):
        raise DomainError(
            "validation_error", "请以 multipart/form-data 上传文件，字段名为 file", field="file"
        )
    return upload


def _file_answers() -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for rule in current_app.url_map.iter_rules():
        view = current_app.view_functions[rule.endpoint]
        media = getattr(view, "_file_answers", None)
        if not media:
            continue
        path = rule.rule.removeprefix(API_PREFIX)
        for name in ("<int:", "<"):
            path = path.replace(name, "{")
        path = path.replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found[(path, method.lower())] = [value.split(";")[0] for value in media.values()]
    return found
