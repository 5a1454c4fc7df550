"""Recording a run as it goes and replaying it offline from its cassettes and journal."""
