"""Insights: anomalies, trends, forecasts, recommendations, goal risks and data quality."""
