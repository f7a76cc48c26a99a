"""shipping analytics: the shop's same-day cut-off, per-order facts, daily roll-ups

Revision ID: e5a1c7d9b3f2
Revises: e5a1c7d3b902, f15a7c3e9b21 (also joins those two heads)
Create Date: 2026-12-07 02:20:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e5a1c7d9b3f2'
down_revision = ('e5a1c7d3b902', 'f15a7c3e9b21')
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('same_day_cutoff', sa.Integer(), server_default='960', nullable=False)
        )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_updated_at', ['updated_at', 'id'], unique=False)

    op.create_table(
        'analytics_order_facts',
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('supplier_id', sa.Integer(), nullable=False),
        sa.Column('assigned_day', sa.Date(), nullable=True),
        sa.Column('returned_day', sa.Date(), nullable=True),
        sa.Column('return_tenths', sa.Integer(), nullable=True),
        sa.Column('after_sale', sa.Boolean(), nullable=False),
        sa.Column('dispatched_day', sa.Date(), nullable=True),
        sa.Column('paid_day', sa.Date(), nullable=True),
        sa.Column('paid_kind', sa.String(length=12), nullable=True),
        sa.Column('promise_day', sa.Date(), nullable=True),
        sa.Column('promise_kind', sa.String(length=8), nullable=True),
        sa.Column('open_promise_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_analytics_order_facts_merchant_id_merchants')),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_analytics_order_facts_order_id_orders')),
        sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_analytics_order_facts_supplier_id_suppliers')),
        sa.PrimaryKeyConstraint('order_id', name=op.f('pk_analytics_order_facts')),
    )
    with op.batch_alter_table('analytics_order_facts', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_order_facts_merchant_open', ['merchant_id', 'open_promise_at'], unique=False)
        batch_op.create_index('ix_analytics_order_facts_supplier_open', ['supplier_id', 'open_promise_at'], unique=False)

    counters = [
        sa.Column(name, sa.Integer(), nullable=False)
        for name in (
            'assigned', 'returned', 'after_sale', 'dispatched',
            'paid_met', 'paid_missed', 'paid_open_before', 'paid_open_after',
            'promise_on_time', 'promise_late', 'promise_open',
        )
    ]
    op.create_table(
        'analytics_daily',
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('supplier_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        *counters,
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_analytics_daily_merchant_id_merchants')),
        sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_analytics_daily_supplier_id_suppliers')),
        sa.PrimaryKeyConstraint('merchant_id', 'supplier_id', 'day', name=op.f('pk_analytics_daily')),
    )
    with op.batch_alter_table('analytics_daily', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_daily_supplier', ['supplier_id', 'merchant_id', 'day'], unique=False)

    op.create_table(
        'analytics_return_hours',
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('supplier_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('tenths', sa.Integer(), nullable=False),
        sa.Column('orders', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_analytics_return_hours_merchant_id_merchants')),
        sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_analytics_return_hours_supplier_id_suppliers')),
        sa.PrimaryKeyConstraint('merchant_id', 'supplier_id', 'day', 'tenths', name=op.f('pk_analytics_return_hours')),
    )
    with op.batch_alter_table('analytics_return_hours', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_return_hours_supplier', ['supplier_id', 'merchant_id', 'day'], unique=False)

    op.create_table(
        'analytics_return_hours_monthly',
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('supplier_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('tenths', sa.Integer(), nullable=False),
        sa.Column('orders', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_analytics_return_hours_monthly_merchant_id_merchants')),
        sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_analytics_return_hours_monthly_supplier_id_suppliers')),
        sa.PrimaryKeyConstraint('merchant_id', 'supplier_id', 'month', 'tenths', name=op.f('pk_analytics_return_hours_monthly')),
    )
    with op.batch_alter_table('analytics_return_hours_monthly', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_return_hours_monthly_supplier', ['supplier_id', 'merchant_id', 'month'], unique=False)

    op.create_table(
        'analytics_progress',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scanned_until', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_progress')),
    )


def downgrade():
    op.drop_table('analytics_progress')
    with op.batch_alter_table('analytics_return_hours_monthly', schema=None) as batch_op:
        batch_op.drop_index('ix_analytics_return_hours_monthly_supplier')
    op.drop_table('analytics_return_hours_monthly')
    with op.batch_alter_table('analytics_return_hours', schema=None) as batch_op:
        batch_op.drop_index('ix_analytics_return_hours_supplier')
    op.drop_table('analytics_return_hours')
    with op.batch_alter_table('analytics_daily', schema=None) as batch_op:
        batch_op.drop_index('ix_analytics_daily_supplier')
    op.drop_table('analytics_daily')
    with op.batch_alter_table('analytics_order_facts', schema=None) as batch_op:
        batch_op.drop_index('ix_analytics_order_facts_supplier_open')
        batch_op.drop_index('ix_analytics_order_facts_merchant_open')
    op.drop_table('analytics_order_facts')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_updated_at')
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.drop_column('same_day_cutoff')
