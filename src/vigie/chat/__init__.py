"""The website chat: a visitor's widget and the agents' console talk in real time, and every
conversation lands in the CRM as an interaction with its full transcript.

Each message is an event in the log (`Chat Started`, `Chat Message`, …), so a replay rebuilds
the conversations; the live part (who is on the site now, the open connections) is memory.
"""
