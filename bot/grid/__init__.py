"""Grid hazard reports (网格隐患上报, 四平台): classify, route, ticket, notify.

A citizen reports a hazard once; it is classified into a category of data/kb/grid.yml and
routed to its platform (综治工作, 市场监管, 综合执法, 便民服务), and staff move the ticket
through 受理 → 分流交办 → 处置 → 核实反馈 (`python -m bot.grid`, or the console page
/guide/grid/). Importing this package opens no database and trains nothing.

    from bot.grid.classify import classify
    from bot.grid.repository import GridRepository
    found = classify("水库边堆满了油漆桶")          # category, platform
    repo = GridRepository()                         # the booking store's engine (DATABASE_URL)
    filed = repo.file(category=found.category, place=..., description=..., occurred_at=...,
                      channel="rest", sender_id=..., contact_phone=None)
    repo.status(filed.ticket.code, sender_id=..., channel=..., last4=None)
"""
