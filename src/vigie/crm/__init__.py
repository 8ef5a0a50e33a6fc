"""The CRM: contacts, accounts, staff, deals, tickets, campaigns, interactions, tasks, offers.

Its tables are a projection of the event log (see `processor.py`): the API appends a CRM
event and the processor applies it, so sales, support and finance facts are events too.
"""
