from hummingbot.data_feed.candles_feed.nonkyc_spot_candles.nonkyc_spot_candles import NonkycSpotCandles

__all__ = ["NonkycSpotCandles"]
