"""Field names Bybit documents for the shapes a client parses (bybit-exchange/docs, `docs/v5/`
at commit 072c197): the simulator must answer each of them."""

from __future__ import annotations


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


ENVELOPE = frozenset({"retCode", "retMsg", "result", "retExtInfo", "time"})

_ORDER = """orderId orderLinkId parentOrderLinkId blockTradeId symbol price qty side isLeverage
positionIdx orderStatus createType cancelType rejectReason avgPrice leavesQty leavesValue
cumExecQty cumExecValue cumExecFee timeInForce orderType stopOrderType orderIv marketUnit
triggerPrice takeProfit stopLoss tpslMode ocoTriggerBy tpLimitPrice slLimitPrice tpTriggerBy
slTriggerBy triggerDirection triggerBy lastPriceOnCreated reduceOnly closeOnTrigger placeType
smpType smpGroup smpOrderId createdTime updatedTime cumFeeDetail"""
ORDER = _names(_ORDER)
"""`/v5/order/realtime` and `/v5/order/history` items (linear)."""
ORDER_WS = ORDER | {"category", "closedPnl", "feeCurrency", "brokerOrderPrice"}
ORDER_WS |= {"slippageToleranceType", "slippageTolerance", "rpiTakerAccess", "rpiMatchedQty"}

EXECUTION = _names(
    """symbol orderId orderLinkId side orderPrice orderQty leavesQty createType orderType
    stopOrderType execFee execFeeV2 execId execPrice execQty execType execValue execTime
    feeCurrency isMaker feeRate tradeIv markIv markPrice indexPrice underlyingPrice
    blockTradeId closedSize seq extraFees"""
)
EXECUTION_WS = (EXECUTION - {"execFeeV2"}) | {"category", "execPnl", "isLeverage"}

_POSITION = """positionIdx riskId riskLimitValue symbol side size positionValue autoAddMargin
positionStatus leverage breakEvenPrice markPrice liqPrice positionIM positionIMByMp positionMM
positionMMByMp takeProfit stopLoss trailingStop sessionAvgPrice delta gamma vega theta
unrealisedPnl curRealisedPnl cumRealisedPnl adlRankIndicator createdTime updatedTime openTime
seq isReduceOnly mmrSysUpdatedTime leverageSysUpdatedTime tpslMode bustPrice positionBalance
tradeMode"""
POSITION = _names(_POSITION) | {"avgPrice"}
POSITION_WS = _names(_POSITION) | {"entryPrice", "category"}

WALLET = _names(
    """accountType accountIMRate accountMMRate totalEquity totalWalletBalance
    totalMarginBalance totalAvailableBalance totalPerpUPL totalInitialMargin
    totalMaintenanceMargin accountIMRateByMp accountMMRateByMp totalInitialMarginByMp
    totalMaintenanceMarginByMp accountLTV coin"""
)
WALLET_COIN = _names(
    """coin equity usdValue walletBalance locked spotHedgingQty borrowAmount accruedInterest
    totalOrderIM totalPositionIM totalPositionMM unrealisedPnl cumRealisedPnl bonus
    marginCollateral collateralSwitch colRes spotBorrow free availableToWithdraw
    availableToBorrow"""
)

TICKER_LINEAR = _names(
    """symbol lastPrice indexPrice markPrice prevPrice24h price24hPcnt highPrice24h
    lowPrice24h prevPrice1h openInterest openInterestValue singleOpenInterest
    singleOpenInterestValue turnover24h volume24h fundingRate nextFundingTime
    predictedDeliveryPrice basisRate basis deliveryFeeRate deliveryTime ask1Size bid1Price
    ask1Price bid1Size preOpenPrice preQty curPreListingPhase fundingIntervalHour fundingCap
    basisRateYear"""
)
TICKER_SPOT = _names(
    """symbol bid1Price bid1Size ask1Price ask1Size lastPrice prevPrice24h price24hPcnt
    highPrice24h lowPrice24h turnover24h volume24h usdIndexPrice"""
)
INSTRUMENT_LINEAR = _names(
    """symbol symbolId contractType status baseCoin quoteCoin symbolType launchTime
    deliveryTime deliveryFeeRate priceScale leverageFilter priceFilter lotSizeFilter
    unifiedMarginTrade fundingInterval settleCoin copyTrading upperFundingRate
    lowerFundingRate displayName forbidUplWithdrawal riskParameters isPreListing
    preListingInfo"""
)
INSTRUMENT_SPOT = _names(
    """symbolId symbol baseCoin quoteCoin innovation symbolType xstockMultiplier status
    marginTrading stTag lotSizeFilter priceFilter riskParameters"""
)
ACCOUNT_INFO = _names(
    """unifiedMarginStatus marginMode isMasterTrader spotHedgingStatus updatedTime dcpStatus
    timeWindow smpGroup"""
)
API_KEY = _names(
    """id note apiKey readOnly secret permissions ips type deadlineDay expiredAt createdAt
    uta userID inviterID vipLevel mktMakerLevel affiliateID rsaPublicKey isMaster parentUid
    kycLevel kycRegion unified"""
)
COIN = frozenset({"name", "coin", "remainAmount", "chains"})
CHAIN = _names(
    """chain chainType confirmation withdrawFee depositMin withdrawMin minAccuracy
    chainDeposit chainWithdraw withdrawPercentageFee contractAddress safeConfirmNumber
    withdrawMax"""
)
RECENT_TRADE = frozenset(
    {"execId", "symbol", "price", "size", "side", "time", "isBlockTrade", "isRPITrade", "seq"}
)
