"""The worker's data in DynamoDB: one small interface per kind of record, with its DynamoDB implementation."""
