"""What a backtest leaves behind: CSV files written as the run goes, then the picture and the page."""
