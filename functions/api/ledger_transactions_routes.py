"""ledger_transactions API routes (filled in by the module's routes)."""

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

router = APIGatewayRouter()
