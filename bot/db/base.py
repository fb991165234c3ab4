from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def include_object_for(dialect: str):  # noqa: ANN202
    """Honour `ddl_if(dialect=...)` (e.g. the pgvector HNSW index exists on PostgreSQL only)."""

    def include(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
        ddl_if = getattr(obj, "_ddl_if", None)
        return ddl_if is None or ddl_if.dialect is None or ddl_if.dialect == dialect

    return include
