"""SOP playbooks: definitions, the planner of per-contact and per-group tasks, the tick that
queues due tasks, and the executor that sends them (issue: SOP engine)."""
