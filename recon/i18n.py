"""The words people read, in English and Chinese: a small catalog and a lookup.

Only text for people changes with the language. Machine-readable values (discrepancy types,
severities as stored, column names, rule names, ids and amounts) never do: other tools read them.
English is the default and its text is exactly what recon has always printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

LANGS = ("en", "zh")
DEFAULT_LANG = "en"

TEXT: dict[str, dict[str, str]] = {
    # --- discrepancy types and severities, shown next to the raw value in zh -----------------
    "type.amount_mismatch": {"en": "amount mismatch", "zh": "金额不符"},
    "type.account_mismatch": {"en": "account mismatch", "zh": "卡号不符"},
    "type.currency_mismatch": {"en": "currency mismatch", "zh": "币种不符"},
    "type.duplicate_pos": {"en": "duplicate POS record", "zh": "POS重复记录"},
    "type.duplicate_bank": {"en": "duplicate settlement", "zh": "银行重复结算"},
    "type.orphan_pos": {"en": "POS record never settled", "zh": "POS有记录、银行未结算"},
    "type.orphan_bank": {"en": "bank record without POS", "zh": "银行有记录、POS无记录"},
    "type.voided_but_settled": {"en": "voided but settled", "zh": "已撤销但已结算"},
    "type.late_settlement": {"en": "late settlement", "zh": "延迟结算"},
    "sev.high": {"en": "high", "zh": "高"},
    "sev.medium": {"en": "medium", "zh": "中"},
    "sev.low": {"en": "low", "zh": "低"},
    # --- advice: what a record is ------------------------------------------------------------
    # The kind of a record, named in items' words (POS: sale, refund, void, reversal; bank:
    # credit, debit); amounts beside them are magnitudes.
    "adv.kind.sale": {"en": "sale", "zh": "消费"},
    "adv.kind.refund": {"en": "refund", "zh": "退货"},
    "adv.kind.void": {"en": "void", "zh": "撤销"},
    "adv.kind.reversal": {"en": "reversal", "zh": "冲正"},
    "adv.kind.credit": {"en": "credit", "zh": "入账"},
    "adv.kind.debit": {"en": "debit", "zh": "出账"},
    "adv.booked.credit": {"en": "credited", "zh": "入账"},
    "adv.booked.debit": {"en": "debited", "zh": "出账"},
    "adv.cancelled.void": {"en": "voided", "zh": "撤销"},
    "adv.cancelled.reversal": {"en": "reversed", "zh": "冲正"},
    # --- advice: detail --------------------------------------------------------------------
    "adv.more": {"en": "more", "zh": "多"},
    "adv.less": {"en": "less", "zh": "少"},
    "adv.late_note": {
        "en": " Also settled {days} days after the {pkind}.",
        "zh": "另外，结算比{pkind}晚了 {days} 天。",
    },
    "adv.with_ref": {"en": " with reference {reference}", "zh": "（参考号 {reference}）"},
    "adv.paren_ref": {"en": " (reference {reference})", "zh": "（参考号 {reference}）"},
    "adv.detail.amount_mismatch": {
        "en": "POS {pos}, bank {bank}: the bank {booked} {diff} {more_less} for this {pkind}."
        "{late_note}",
        "zh": "POS {pos}，银行 {bank}：这笔{pkind}银行{more_less}{booked} {diff}。{late_note}",
    },
    "adv.detail.amount_flipped": {
        "en": "POS {pkind} of {pos}, bank {bkind} of {bank}: the bank booked it the other way "
        "round, {diff} apart.{late_note}",
        "zh": "POS {pkind} {pos}，银行却{booked} {bank}：资金方向相反，相差 {diff}。{late_note}",
    },
    "adv.detail.account_mismatch": {
        "en": "Card {pos_account} at the POS, {bank_account} at the bank, for a {pkind} of "
        "{pos}.{late_note}",
        "zh": "POS 上的卡号为 {pos_account}，银行记录为 {bank_account}，{pkind}金额 {pos}。"
        "{late_note}",
    },
    "adv.detail.currency_mismatch": {
        "en": "POS {pkind} of {pos}, bank {bkind} of {bank}: different currency.",
        "zh": "POS {pkind} {pos}，银行{bkind} {bank}：币种不同。",
    },
    "adv.detail.late_settlement": {
        "en": "{Pkind} of {pos} on {pos_time} settled {bank_time}, {days} days later "
        "(allowance {allow} days).",
        "zh": "{pos_time} 的{pkind} {pos} 于 {bank_time} 结算，晚了 {days} 天（允许 {allow} 天）。",
    },
    "adv.retry_window": {
        "en": " on the same card and terminal within {window} s",
        "zh": "（同一卡号、同一终端，{window} 秒内）",
    },
    "adv.detail.duplicate_pos": {
        "en": "{n} POS records ({ids}) totalling {pos} for one {pkind}{how}; "
        "the bank settled {n_settled} of them.",
        "zh": "同一笔{pkind}有 {n} 条POS记录（{ids}），"
        "合计 {pos}{how}；银行结算了其中 {n_settled} 条。",
    },
    "adv.detail.duplicate_bank": {
        "en": "The bank booked the same {bkind} {n} times ({ids}), total {bank}, "
        "for {n_pos} POS record(s){ref}.",
        "zh": "银行重复{booked}了 {n} 次（{ids}），合计 {bank}，对应 {n_pos} 条POS记录{ref}。",
    },
    "adv.detail.orphan_pos": {
        "en": "{Pkind} of {pos} at terminal {terminal} on {pos_time}{tail}",
        "zh": "终端 {terminal} 于 {pos_time} 的{pkind} {pos}{tail}",
    },
    "adv.ambiguous_pos": {
        "en": " {n} look-alike bank record(s) left over could be its settlement, but none is"
        " clearly it: left open (recon investigate lists them).",
        "zh": "另有 {n} 条相似的银行记录可能是它的结算，但无法确定是哪一条，暂不配对"
        "（recon investigate 可列出）。",
    },
    "adv.ambiguous_bank": {
        "en": " {n} look-alike POS record(s) left over could be its sale, but none is clearly"
        " it: left open (recon investigate lists them).",
        "zh": "另有 {n} 条相似的POS记录可能与之对应，但无法确定是哪一条，暂不配对"
        "（recon investigate 可列出）。",
    },
    "adv.lone_void_tail": {
        "en": " has no sale to cancel and no settlement.",
        "zh": "：找不到它所取消的原消费，也没有结算。",
    },
    "adv.never_settled_tail": {
        "en": " was never settled by the bank.",
        "zh": "：银行从未结算。",
    },
    "adv.refund_unpaid_tail": {
        "en": " was never debited by the bank: the customer may not have been paid back.",
        "zh": "：银行从未出账，顾客可能没有收到退款。",
    },
    "adv.debit_of": {"en": "Bank debit of ", "zh": "出账 "},
    "adv.credit_of": {"en": "Bank credit of ", "zh": "入账 "},
    "adv.detail.orphan_bank": {
        "en": "{kind}{amount} on {bank_time}{ref} has no POS record.",
        "zh": "{bank_time} 的银行{kind}{amount}{ref}没有对应的POS记录。",
    },
    "adv.detail.orphan_payment": {
        "en": "Payment of {amount} from the account on {bank_time}{ref} has no POS record.",
        "zh": "{bank_time} 从账户出账 {amount}{ref}，没有对应的POS记录。",
    },
    "adv.detail.voided_but_settled": {
        "en": "Sale {first} was {cancelled} ({last} at {pos_time}) but the bank still {booked} "
        "{bank} ({ids}).",
        "zh": "消费 {first} 已{cancelled}（{last}，{pos_time}），"
        "但银行仍{booked}了 {bank}（{ids}）。",
    },
    # --- advice: cause ---------------------------------------------------------------------
    "adv.cause.keying_amount": {"en": "keying error: {pattern}", "zh": "输入错误：{pattern}"},
    "adv.cause.amount_altered": {
        "en": "system fault: amount altered between terminal and bank",
        "zh": "系统故障：金额在终端与银行之间被改变",
    },
    "adv.cause.keying_account": {
        "en": "keying error: account {pattern}",
        "zh": "输入错误：卡号{pattern}",
    },
    "adv.cause.card_differs": {
        "en": "suspected fraud or system fault: a different card",
        "zh": "疑似欺诈或系统故障：卡号不同",
    },
    "adv.cause.currency": {
        "en": "terminal settings: wrong currency on the terminal",
        "zh": "终端设置：终端币种设置错误",
    },
    "adv.cause.late": {"en": "network delay or settlement hold", "zh": "网络延迟或结算暂扣"},
    "adv.cause.retry": {
        "en": "network retry: the terminal sent the {pkind} again",
        "zh": "网络重试：终端重复发送了这笔{pkind}",
    },
    "adv.cause.same_ref": {
        "en": "system fault: the same reference recorded twice",
        "zh": "系统故障：同一参考号被记录了两次",
    },
    "adv.cause.dup_bank": {
        "en": "system fault at the acquirer: settled more than once",
        "zh": "收单机构系统故障：重复结算",
    },
    "adv.cause.lone_void": {
        "en": "system fault: a {pkind} without the sale it cancels",
        "zh": "系统故障：{pkind}找不到对应的原消费",
    },
    "adv.cause.never_reached": {
        "en": "network delay or system fault: the {pkind} never reached the acquirer",
        "zh": "网络延迟或系统故障：{pkind}未送达收单机构",
    },
    "adv.cause.debit": {
        "en": "suspected fraud: money taken with no POS record",
        "zh": "疑似欺诈：没有POS记录却被扣款",
    },
    "adv.cause.payment": {
        "en": "a payment from the shop's own account (supplier, rent, fees), not a card "
        "transaction",
        "zh": "店铺账户自己的付款（供应商、房租、费用），不是刷卡交易",
    },
    "adv.cause.credit": {
        "en": "suspected fraud or misrouted settlement",
        "zh": "疑似欺诈或结算错发",
    },
    "adv.cause.void_not_reached": {
        "en": "network delay or system fault: the {pkind} never reached the acquirer",
        "zh": "网络延迟或系统故障：{pkind}未送达收单机构",
    },
    # keying patterns (recon.keying names them in English; the stored column keeps that)
    "adv.pattern.decimal slip": {"en": "decimal slip", "zh": "小数点错位"},
    "adv.pattern.digits transposed": {"en": "digits transposed", "zh": "数字颠倒"},
    "adv.pattern.digit dropped": {"en": "digit dropped", "zh": "漏输一位数字"},
    "adv.pattern.digit added": {"en": "digit added", "zh": "多输一位数字"},
    "adv.pattern.one digit mistyped": {"en": "one digit mistyped", "zh": "输错一位数字"},
    "adv.pattern.one digit wrong": {"en": "one digit wrong", "zh": "一位数字错误"},
    # --- advice: suggested action (the seed's playbook) ------------------------------------
    "adv.act.amount_mismatch": {
        "en": "Check the POS record (terminal, batch, trace number) and the receipt; "
        "confirm the amount with the customer; {then}",
        "zh": "核对POS记录（终端号、批次号、凭证号）与小票；与顾客确认金额；{then}",
    },
    "adv.act.refund": {
        "en": "refund the {diff} charged too much.",
        "zh": "退还多收的 {diff}。",
    },
    "adv.act.collect": {
        "en": "collect the missing {diff} or ask the acquiring bank to correct the settlement.",
        "zh": "补收少收的 {diff}，或请收单银行更正结算。",
    },
    "adv.act.refund_over": {
        "en": "the customer got {diff} more back than the POS refund: ask the acquiring bank "
        "to correct the debit, or ask the customer to return it.",
        "zh": "顾客多收到了 {diff} 退款：请收单银行更正出账金额，或请顾客退回多退的款项。",
    },
    "adv.act.refund_under": {
        "en": "the customer got {diff} less back than the POS refund: refund the rest, or ask "
        "the acquiring bank to correct the debit.",
        "zh": "顾客少收到了 {diff} 退款：补退差额，或请收单银行更正出账金额。",
    },
    "adv.act.flipped": {
        "en": "the bank booked a {bkind} for a {pkind}: ask the acquiring bank to correct it, "
        "with the POS record as evidence.",
        "zh": "POS 为{pkind}，银行却记为{bkind}：携带POS记录作为证据，请收单银行更正。",
    },
    "adv.act.account_mismatch": {
        "en": "Compare the card on the receipt with the bank record; confirm with the "
        "customer; if the card is not theirs, ask the acquiring bank for a reversal "
        "with the evidence and treat it as suspected fraud.",
        "zh": "核对小票上的卡号与银行记录；与顾客确认；如果卡不是顾客本人的，"
        "请携带证据向收单银行申请冲正，并按疑似欺诈处理。",
    },
    "adv.act.account_refund": {
        "en": "Compare the card on the refund receipt and on the original sale with the bank "
        "record: a refund paid to another card is a known fraud pattern; if the card is not "
        "the customer's, ask the acquiring bank to recall the refund with the evidence and "
        "treat it as suspected fraud.",
        "zh": "核对退货小票和原消费上的卡号与银行记录：退款退到别的卡上是常见的欺诈手法；"
        "如果卡不是顾客本人的，请携带证据请收单银行追回退款，并按疑似欺诈处理。",
    },
    "adv.act.currency_mismatch": {
        "en": "Check the terminal's currency setting with the POS vendor; ask the "
        "acquiring bank to re-settle in the right currency; refund any "
        "conversion loss to the customer.",
        "zh": "请POS服务商检查终端的币种设置；请收单银行按正确币种重新结算；"
        "如顾客有汇兑损失，予以退还。",
    },
    "adv.act.currency_refund": {
        "en": "Check the terminal's currency setting with the POS vendor; ask the "
        "acquiring bank to redo the refund in the right currency; make good any "
        "conversion loss to the customer.",
        "zh": "请POS服务商检查终端的币种设置；请收单银行按正确币种重新办理退款；"
        "如顾客有汇兑损失，予以补偿。",
    },
    "adv.act.late_settlement": {
        "en": "No money is missing. If this terminal is often late, ask the acquiring "
        "bank about settlement holds and check the terminal's clock and batch "
        "close.",
        "zh": "没有资金缺失。如果该终端经常延迟结算，请向收单银行询问结算暂扣情况，"
        "并检查终端的时钟和结批设置。",
    },
    "adv.act.dup_multi": {
        "en": "The customer was charged more than once: confirm with them and "
        "refund the extra charge(s); keep the POS records as evidence.",
        "zh": "顾客被重复扣款：与顾客确认并退还多扣的款项；保留POS记录作为证据。",
    },
    "adv.act.dup_multi_refund": {
        "en": "The customer was refunded more than once: confirm with them and ask for the "
        "extra refund(s) back, or ask the acquiring bank to recall them; keep the POS "
        "records as evidence.",
        "zh": "顾客收到了重复退款：与顾客确认，请其退回多退的款项，或请收单银行追回；"
        "保留POS记录作为证据。",
    },
    "adv.act.dup_none": {
        "en": "None of the records settled: confirm the sale with the customer and "
        "redo it once; ask the acquiring bank why it did not settle.",
        "zh": "这些记录都没有结算：与顾客确认这笔消费并重新操作一次；向收单银行询问未结算的原因。",
    },
    "adv.act.dup_none_refund": {
        "en": "None of the records settled: check with the acquiring bank whether the "
        "customer was refunded; if not, redo the refund once.",
        "zh": "这些记录都没有结算：向收单银行确认顾客是否已收到退款；如果没有，重新办理一次退货。",
    },
    "adv.act.dup_one": {
        "en": "Void the extra POS record so the books match the bank; check the "
        "terminal's network connection.",
        "zh": "撤销多余的POS记录，使账目与银行一致；检查终端的网络连接。",
    },
    "adv.act.duplicate_bank": {
        "en": "Ask the acquiring bank to reverse the extra settlement, with the reference "
        "and times as evidence; refund the customer if they were charged twice.",
        "zh": "请收单银行冲正多出的结算，并提供参考号和时间作为证据；"
        "如果顾客被扣款两次，予以退款。",
    },
    "adv.act.duplicate_bank_debit": {
        "en": "Ask the acquiring bank to return the extra debit, with the reference and "
        "times as evidence; if the customer was refunded twice, ask them to return the "
        "extra refund.",
        "zh": "请收单银行退回多出的出账，并提供参考号和时间作为证据；"
        "如果顾客收到了两次退款，请其退回多退的款项。",
    },
    "adv.act.lone_void": {
        "en": "Find the sale this {pkind} cancels (the same reference, or the same card and "
        "amount) on the terminal and in earlier days' files; if there is none, ask the POS "
        "vendor to check the terminal log.",
        "zh": "在终端和前几天的文件中查找这笔{pkind}所取消的原消费"
        "（相同参考号，或相同卡号和金额）；如果找不到，请POS服务商检查终端日志。",
    },
    "adv.act.orphan_pos": {
        "en": "Check the POS record (terminal, batch, trace number) and whether "
        "the batch was closed; wait one more settlement cycle, then ask the "
        "acquiring bank with the evidence; redo the sale if it failed.",
        "zh": "核对POS记录（终端号、批次号、凭证号）以及该批次是否已结算；"
        "再等待一个结算周期，然后携带证据询问收单银行；如果交易失败，重新操作这笔消费。",
    },
    "adv.act.orphan_refund": {
        "en": "Check with the acquiring bank whether the customer was refunded, with the POS "
        "record (terminal, batch, trace number) as evidence; if not, redo the refund once; "
        "if it was paid back another way (cash), note that on the POS record.",
        "zh": "携带POS记录（终端号、批次号、凭证号）向收单银行确认顾客是否已收到退款；"
        "如果没有，重新办理一次退货；如果已用其他方式（如现金）退款，请在POS记录上注明。",
    },
    "adv.act.debit": {
        "en": "Escalate as suspected fraud: contact the acquiring bank at once with "
        "the statement line and ask for the transaction details and a "
        "reversal.",
        "zh": "按疑似欺诈上报：立即携带对账单记录联系收单银行，要求提供交易详情并冲正。",
    },
    "adv.act.payment": {
        "en": "A payment from the account with no POS record: check it is one of yours "
        "(supplier, rent, fees); if not, contact the bank.",
        "zh": "这是一笔没有POS记录的账户付款：请确认是否是您自己的付款（供应商、房租、费用）；"
        "如果不是，请联系银行。",
    },
    "adv.act.credit": {
        "en": "Confirm with the acquiring bank which terminal and sale this is; "
        "if it is not yours, report it (suspected fraud or misrouting).",
        "zh": "向收单银行确认这是哪台终端、哪笔消费；"
        "如果不是您的交易，请上报（疑似欺诈或结算错发）。",
    },
    "adv.contact.acquirer": {"en": " Acquiring bank: {who}.", "zh": "收单银行：{who}。"},
    "adv.contact.pos_vendor": {"en": " POS vendor: {who}.", "zh": "POS服务商：{who}。"},
    "adv.contact.responsible": {"en": " Responsible: {who}.", "zh": "负责人：{who}。"},
    "adv.act.voided_but_settled": {
        "en": "The customer was charged for a {cancelled} sale: ask the acquiring bank for a "
        "reversal with the {pkind} record as evidence, or refund the customer.",
        "zh": "顾客为一笔已{cancelled}的消费被扣了款："
        "携带{pkind}记录作为证据向收单银行申请冲正，或直接退款给顾客。",
    },
    # --- reports: shared words ------------------------------------------------------------
    "rep.pos": {"en": "POS", "zh": "POS"},
    "rep.bank": {"en": "bank", "zh": "银行"},
    "rep.total": {"en": "total", "zh": "合计"},
    # --- terminal summary ------------------------------------------------------------------
    "term.side": {"en": "side", "zh": "来源"},
    "term.read": {"en": "read", "zh": "读取"},
    "term.loaded": {"en": "loaded", "zh": "载入"},
    "term.rejected": {"en": "rejected", "zh": "拒收"},
    "term.in_deposits": {
        "en": "    paid in batch deposits: {n}",
        "zh": "    批量到账已支付：{n} 笔",
    },
    "term.more_ids": {"en": " … and {n} more", "zh": " … 另有 {n} 笔"},
    "html.in_deposits": {"en": "Paid in deposits", "zh": "批量到账已支付"},
    "term.matched": {
        "en": "Matched pairs: {pairs}    voided (cancelled, never settled): {voided}",
        "zh": "已匹配：{pairs} 对    已撤销（取消、未结算）：{voided} 笔",
    },
    "term.state": {
        "en": "Day {day}: {new} new, {escalated} escalated, {carried} still open "
        "(carried in: {cpos} POS, {cbank} bank), {closed} closed; open in total: {open_total}",
        "zh": "营业日 {day}：新增 {new} 项，升级 {escalated} 项，仍未解决 {carried} 项"
        "（结转：POS {cpos} 条，银行 {cbank} 条），已关闭 {closed} 项；未解决合计：{open_total} 项",
    },
    "term.no_discrepancies": {"en": "No discrepancies.", "zh": "没有差异。"},
    "term.col_type": {"en": "discrepancy type", "zh": "差异类型"},
    "term.col_count": {"en": "count", "zh": "数量"},
    "term.col_severity": {"en": "severity", "zh": "严重程度"},
    "term.col_at_risk": {"en": "money at risk", "zh": "涉及金额"},
    "term.top": {"en": "Top {shown} of {total} items", "zh": "共 {total} 项，最严重的 {shown} 项"},
    "term.all": {"en": "All {shown} items", "zh": "全部 {shown} 项"},
    "term.do": {"en": "Do: ", "zh": "处理："},
    "term.more": {
        "en": "... and {n} more in discrepancies.csv",
        "zh": "……其余 {n} 项见 discrepancies.csv",
    },
    "term.rejected_head": {"en": "Rejected rows: {n}", "zh": "拒收行：{n}"},
    "term.rejected_counts": {"en": " (POS {pos}, bank {bank})", "zh": "（POS {pos}，银行 {bank}）"},
    "term.rejected_line": {
        "en": "{side} line {line}: {reason}",
        "zh": "{side} 第 {line} 行：{reason}",
    },
    "term.rejected_more": {
        "en": "  ... and {n} more in rejected.csv",
        "zh": "  ……其余 {n} 行见 rejected.csv",
    },
    "term.written": {"en": "Reports written to ", "zh": "报告已写入 "},
    # --- summary.md -------------------------------------------------------------------------
    "md.head": {"en": "{n} {word}, {money} at risk", "zh": "{n} 项差异，涉及金额 {money}"},
    "md.none": {"en": "No discrepancies", "zh": "没有差异"},
    "md.rejected": {"en": "{rows}", "zh": "拒收 {n} 行"},
    "md.headline": {
        "en": "{head}, {rejected} — files: {files}",
        "zh": "{head}，{rejected} — 文件：{files}",
    },
    "md.vs": {"en": "vs", "zh": "对比"},
    "md.table_head": {
        "en": "| type | count | high / medium / low | money at risk |",
        "zh": "| 类型 | 数量 | 高 / 中 / 低 | 涉及金额 |",
    },
    "md.top": {"en": "Top {shown} of {total} items:", "zh": "共 {total} 项，最严重的 {shown} 项："},
    "md.items": {"en": "Items:", "zh": "差异项："},
    "md.do": {"en": "**Do:**", "zh": "**处理：**"},
    "md.more": {
        "en": "… and {n} more in discrepancies.csv.",
        "zh": "……其余 {n} 项见 discrepancies.csv。",
    },
    "md.all_matched": {"en": "Every record matched.", "zh": "所有记录均已匹配。"},
    "md.rejected_rows": {
        "en": "Rejected rows: {n} (POS {pos}, bank {bank}); see rejected.csv.",
        "zh": "拒收行：{n}（POS {pos}，银行 {bank}）；见 rejected.csv。",
    },
    "md.rejected_none": {"en": "Rejected rows: 0.", "zh": "拒收行：0。"},
    "md.reports_in": {"en": "Reports in `{dir}`:", "zh": "报告位于 `{dir}`："},
    # --- report.html ------------------------------------------------------------------------
    "html.h_by_type": {"en": "By type", "zh": "按类型"},
    "html.h_by_sev": {"en": "By severity", "zh": "按严重程度"},
    "html.h_charts": {"en": "Charts", "zh": "图表"},
    "html.h_disc": {"en": "Discrepancies ({n})", "zh": "差异（{n}）"},
    "html.h_rejected": {"en": "Rejected rows ({n})", "zh": "拒收行（{n}）"},
    "html.h_inputs": {"en": "Inputs", "zh": "输入文件"},
    "html.pos_rows": {"en": "POS rows read", "zh": "POS 读取行数"},
    "html.bank_rows": {"en": "Bank rows read", "zh": "银行读取行数"},
    "html.matched": {"en": "Matched pairs", "zh": "已匹配"},
    "html.voided": {"en": "Voided (never settled)", "zh": "已撤销（未结算）"},
    "html.discrepancies": {"en": "Discrepancies", "zh": "差异"},
    "html.at_risk": {"en": "Money at risk", "zh": "涉及金额"},
    "html.rejected": {"en": "Rejected rows", "zh": "拒收行"},
    "html.type": {"en": "Type", "zh": "类型"},
    "html.count": {"en": "Count", "zh": "数量"},
    "html.severity": {"en": "Severity", "zh": "严重程度"},
    "html.none": {"en": "No discrepancies.", "zh": "没有差异。"},
    "html.no_rejected": {"en": "No rejected rows.", "zh": "没有拒收行。"},
    "html.run_line": {
        "en": "recon {version}; fail on {fail_on}; exit code {code}",
        "zh": "recon {version}；失败阈值 {fail_on}；退出码 {code}",
    },
    "html.filter": {"en": "Filter items", "zh": "筛选差异项"},
    "html.sort_hint": {"en": "Click a column header to sort.", "zh": "点击列标题排序。"},
    "html.c.item_id": {"en": "Item", "zh": "编号"},
    "html.c.severity": {"en": "Severity", "zh": "严重程度"},
    "html.c.type": {"en": "Type", "zh": "类型"},
    "html.c.pos_ids": {"en": "POS ids", "zh": "POS 记录号"},
    "html.c.bank_ids": {"en": "Bank ids", "zh": "银行记录号"},
    "html.c.pos_amount": {"en": "POS amount", "zh": "POS 金额"},
    "html.c.bank_amount": {"en": "Bank amount", "zh": "银行金额"},
    "html.c.difference": {"en": "Difference", "zh": "差额"},
    "html.c.currency": {"en": "Currency", "zh": "币种"},
    "html.c.reference": {"en": "Reference", "zh": "参考号"},
    "html.c.terminal": {"en": "Terminal", "zh": "终端"},
    "html.c.batch": {"en": "Batch", "zh": "批次号"},
    "html.c.trace": {"en": "Trace", "zh": "凭证号/流水号"},
    "html.c.time": {"en": "Time", "zh": "时间"},
    "html.c.detail": {"en": "Detail", "zh": "详情"},
    "html.c.cause": {"en": "Probable cause", "zh": "可能原因"},
    "html.c.suggested_action": {"en": "Suggested action", "zh": "建议处理"},
    "html.side": {"en": "Side", "zh": "来源"},
    "html.line": {"en": "Line", "zh": "行号"},
    "html.reason": {"en": "Reason", "zh": "原因"},
    "html.raw": {"en": "Raw", "zh": "原始内容"},
    "html.path": {"en": "Path", "zh": "路径"},
    "html.profile": {"en": "Profile", "zh": "格式配置"},
    "html.rows": {"en": "Rows", "zh": "行数"},
    "html.loaded": {"en": "Loaded", "zh": "载入"},
    # --- report.html charts -------------------------------------------------------------------
    "chart.by_type": {
        "en": "Items and money at risk by type",
        "zh": "按类型统计的差异项与涉及金额",
    },
    "chart.by_terminal": {
        "en": "Items and money at risk by terminal",
        "zh": "按终端统计的差异项与涉及金额",
    },
    "chart.by_merchant": {
        "en": "Items and money at risk by merchant",
        "zh": "按商户统计的差异项与涉及金额",
    },
    "chart.by_hour": {"en": "Items by hour of POS time", "zh": "按 POS 时间（小时）统计的差异项"},
    "chart.lag": {
        "en": "Settlement lag of {n} matched pairs",
        "zh": "{n} 对已匹配记录的结算延迟",
    },
    "chart.items": {"en": "items", "zh": "差异项"},
    "chart.money_at_risk": {"en": "money at risk", "zh": "涉及金额"},
    "chart.item_one": {"en": "{n} item", "zh": "{n} 项"},
    "chart.item_many": {"en": "{n} items", "zh": "{n} 项"},
    "chart.bar_tip": {
        "en": "{g}: {items}, {money} at risk",
        "zh": "{g}：{items}，涉及金额 {money}",
    },
    "chart.none_group": {"en": "(none)", "zh": "（无）"},
    "chart.top": {
        "en": "Top {top} of {total} by items.",
        "zh": "按差异项数量取前 {top} 个（共 {total} 个）。",
    },
    "chart.no_pos_time": {
        "en": "{items} without a POS time (bank only) not shown.",
        "zh": "{items}没有 POS 时间（仅有银行记录），未显示。",
    },
    "chart.no_lag": {"en": "No settled matches to chart.", "zh": "没有可绘制的已结算匹配记录。"},
    "chart.no_items": {"en": "No discrepancies to chart.", "zh": "没有可绘制的差异。"},
    "chart.before_sale": {"en": "before sale", "zh": "早于销售"},
    "chart.unit_hours": {"en": "h", "zh": "小时"},
    "chart.unit_days": {"en": "d", "zh": "天"},
    "chart.pair_one": {"en": "{lab}: {v} matched pair", "zh": "{lab}：{v} 对已匹配记录"},
    "chart.pair_many": {"en": "{lab}: {v} matched pairs", "zh": "{lab}：{v} 对已匹配记录"},
    "html.cap_note": {
        "en": "Showing the first {shown} of {total} {what} (most severe first); "
        "<code>{file}</code> holds them all.",
        "zh": "仅显示 {total} 条{what}中的前 {shown} 条（最严重的在前）；"
        "<code>{file}</code> 包含全部。",
    },
    "html.cap_items": {"en": "items", "zh": "差异项"},
    "html.cap_rejected": {"en": "rejected rows", "zh": "拒收行"},
    # --- report.xlsx ------------------------------------------------------------------------
    "xlsx.title": {"en": "recon reconciliation report", "zh": "recon 对账报告"},
    "xlsx.version": {"en": "recon version", "zh": "recon 版本"},
    "xlsx.side": {"en": "side", "zh": "来源"},
    "xlsx.file": {"en": "file", "zh": "文件"},
    "xlsx.sha256": {"en": "sha256", "zh": "sha256"},
    "xlsx.profile": {"en": "profile", "zh": "格式配置"},
    "xlsx.reader": {"en": "reader", "zh": "读取器"},
    "xlsx.rows_read": {"en": "rows read", "zh": "读取行数"},
    "xlsx.loaded": {"en": "loaded", "zh": "载入"},
    "xlsx.rejected": {"en": "rejected", "zh": "拒收"},
    "xlsx.matched": {"en": "matched pairs", "zh": "已匹配对数"},
    "xlsx.voided": {"en": "voided (never settled)", "zh": "已撤销（未结算）"},
    "xlsx.rejected_rows": {"en": "rejected rows", "zh": "拒收行"},
    "xlsx.discrepancies": {"en": "discrepancies", "zh": "差异"},
    "xlsx.count": {"en": "count", "zh": "数量"},
    "xlsx.at_risk": {"en": "at risk {cur}", "zh": "涉及金额 {cur}"},
    "xlsx.type": {"en": "discrepancy type", "zh": "差异类型"},
    "xlsx.severity": {"en": "severity", "zh": "严重程度"},
    "xlsx.fail_on": {"en": "fail on", "zh": "失败阈值"},
    "xlsx.exit_code": {"en": "exit code", "zh": "退出码"},
    "xlsx.money_note": {
        "en": "Money cells are numbers (Excel stores doubles); the exact amounts are in "
        "discrepancies.csv.",
        "zh": "金额单元格为数值（Excel 以双精度浮点数存储）；精确金额见 discrepancies.csv。",
    },
    "xlsx.sheet_note": {"en": "Sheet {name}: ", "zh": "工作表 {name}："},
    "xlsx.capped": {
        "en": "Capped: this sheet shows the first {shown} of {total} rows; {what} has every row.",
        "zh": "已截断：此工作表仅显示 {total} 行中的前 {shown} 行；{what} 包含全部行。",
    },
    # column headers of the type sheets and the Rejected sheet (English: the column name)
    "xlsx.c.item_id": {"en": "item_id", "zh": "编号"},
    "xlsx.c.type": {"en": "type", "zh": "类型"},
    "xlsx.c.severity": {"en": "severity", "zh": "严重程度"},
    "xlsx.c.pos_ids": {"en": "pos_ids", "zh": "POS 记录号"},
    "xlsx.c.bank_ids": {"en": "bank_ids", "zh": "银行记录号"},
    "xlsx.c.pos_amount": {"en": "pos_amount", "zh": "POS 金额"},
    "xlsx.c.bank_amount": {"en": "bank_amount", "zh": "银行金额"},
    "xlsx.c.difference": {"en": "difference", "zh": "差额"},
    "xlsx.c.currency": {"en": "currency", "zh": "币种"},
    "xlsx.c.reference": {"en": "reference", "zh": "参考号"},
    "xlsx.c.detail": {"en": "detail", "zh": "详情"},
    "xlsx.c.suggested_action": {"en": "suggested_action", "zh": "建议处理"},
    "xlsx.c.cause": {"en": "cause", "zh": "可能原因"},
    "xlsx.c.amount_at_risk": {"en": "amount_at_risk", "zh": "涉及金额"},
    "xlsx.c.bank_currency": {"en": "bank_currency", "zh": "银行币种"},
    "xlsx.c.pos_time": {"en": "pos_time", "zh": "POS 时间"},
    "xlsx.c.bank_time": {"en": "bank_time", "zh": "银行时间"},
    "xlsx.c.terminal": {"en": "terminal", "zh": "终端"},
    "xlsx.c.merchant": {"en": "merchant", "zh": "商户"},
    "xlsx.c.pos_account": {"en": "pos_account", "zh": "POS 卡号"},
    "xlsx.c.bank_account": {"en": "bank_account", "zh": "银行卡号"},
    "xlsx.c.batch": {"en": "batch", "zh": "批次号"},
    "xlsx.c.trace": {"en": "trace", "zh": "凭证号/流水号"},
    "xlsx.c.status": {"en": "status", "zh": "状态"},
    "xlsx.c.first_seen": {"en": "first_seen", "zh": "首次发现"},
    "xlsx.c.age_days": {"en": "age_days", "zh": "未解决天数"},
    "xlsx.c.item_ref": {"en": "item_ref", "zh": "差异项引用"},
    "xlsx.c.side": {"en": "side", "zh": "来源"},
    "xlsx.c.line": {"en": "line", "zh": "行号"},
    "xlsx.c.reason": {"en": "reason", "zh": "原因"},
    "xlsx.c.raw": {"en": "raw", "zh": "原始内容"},
    # --- batch settlements (recon.settle) ------------------------------------------------
    "type.fee_mismatch": {"en": "fee mismatch", "zh": "手续费不符"},
    "adv.detail.deposit_fee": {
        "en": "Deposit {deposit} of {bank} pays {n} sales of {gross} gross: the expected fee "
        "is {fee_expected} ({rate_expected}), the fee charged {fee_charged} ({rate_charged}), "
        "{over} more than the schedule.",
        "zh": "到账 {deposit} 金额 {bank}，对应 {n} 笔消费，总额 {gross}：按费率应扣手续费 "
        "{fee_expected}（{rate_expected}），实际扣除 {fee_charged}（{rate_charged}），"
        "多扣 {over}。",
    },
    "adv.cause.deposit_fee": {
        "en": "fee charged above the merchant discount rate in the config (acquirer pricing "
        "changed, or a wrong rate applied)",
        "zh": "实扣手续费高于配置中的商户费率（收单机构调价或费率设置错误）",
    },
    "adv.act.deposit_fee": {
        "en": "Ask the acquirer for the fee breakdown of deposit {deposit} and a refund of the "
        "{over} over-charge; check that the rates in [settlement.fees] match the contract.",
        "zh": "请向收单机构索取到账 {deposit} 的手续费明细，并要求退还多扣的 {over}；"
        "同时核对配置 [settlement.fees] 中的费率是否与合同一致。",
    },
    "adv.detail.deposit_fee_usual": {
        "en": "Deposit {deposit} of {bank} pays {n} sales of {gross} gross and states a fee of "
        "{fee_charged} ({rate_charged}); at this merchant's usual rate, learnt from its other "
        "deposits, the fee is {fee_expected} ({rate_expected}): {over} more.",
        "zh": "到账 {deposit} 金额 {bank}，对应 {n} 笔消费，总额 {gross}，注明手续费 "
        "{fee_charged}（{rate_charged}）；按该商户其他到账得出的常用费率，手续费应为 "
        "{fee_expected}（{rate_expected}）：多扣 {over}。",
    },
    "adv.cause.deposit_fee_usual": {
        "en": "fee charged above the merchant's usual rate (acquirer pricing changed, a wrong "
        "rate or card type applied, or an extra charge)",
        "zh": "手续费高于该商户的常用费率（收单机构调价、费率或卡类型适用错误，或额外收费）",
    },
    "adv.act.deposit_fee_usual": {
        "en": "Ask the acquirer for the fee breakdown of deposit {deposit} and a refund of the "
        "{over} over-charge; put the contract rates in [settlement.fees] to check fees against "
        "the contract instead of the usual rate.",
        "zh": "请向收单机构索取到账 {deposit} 的手续费明细，并要求退还多扣的 {over}；"
        "可在配置 [settlement.fees] 中填写合同费率，按合同而非常用费率核对手续费。",
    },
    "adv.detail.deposit_late": {
        "en": "Deposit {deposit} of {bank} pays {n} sales in full but arrived on {paid}; under "
        "the settlement calendar it was due on {expected}.",
        "zh": "到账 {deposit} 金额 {bank}，足额支付了 {n} 笔消费，但于 {paid} 才到账；"
        "按结算日历应于 {expected} 到账。",
    },
    "adv.cause.deposit_late": {
        "en": "settlement delayed by the acquirer or the bank (batch held, network or system "
        "delay), or the calendar in [settlement] differs from the acquirer's",
        "zh": "收单机构或银行延迟结算（批次挂起、网络或系统延迟），或 [settlement] 中的结算日历"
        "与收单机构不一致",
    },
    "adv.act.deposit_late": {
        "en": "Nothing is missing now; if deposits keep arriving late, ask the acquirer why and "
        "check cut-off, T+N and holidays in [settlement].",
        "zh": "款项已足额到账；如果经常延迟到账，请向收单机构询问原因，并核对 [settlement] "
        "中的截止时间、T+N 和节假日设置。",
    },
    "adv.detail.deposit_short": {
        "en": "Deposit {deposit} of {bank} is {diff} short of its {n} sales (gross {gross} "
        "less the expected fee {fee_expected} = {pos}); no sale of the batch explains the gap.",
        "zh": "到账 {deposit} 金额 {bank}，比对应的 {n} 笔消费应到账金额少 {diff}（总额 {gross} "
        "减应扣手续费 {fee_expected} = {pos}）；没有任何一笔消费能解释这一差额。",
    },
    "adv.cause.deposit_short": {
        "en": "system fault at the acquirer: a deduction (charge-back, hold) or sales left out "
        "of the batch",
        "zh": "收单机构系统问题：被扣款（拒付、冻结）或有消费未纳入批次",
    },
    "adv.act.deposit_short": {
        "en": "Ask the acquirer for the batch detail of deposit {deposit}: which sales it paid "
        "and what it deducted; keep the POS batch report as evidence.",
        "zh": "请向收单机构索取到账 {deposit} 的批次明细：包含哪些交易、扣了哪些款项；"
        "保留 POS 批次结算单作为凭证。",
    },
    "adv.detail.deposit_short_one_of": {
        "en": "Deposit {deposit} of {bank} is {diff} short of its {n} sales (gross {gross} "
        "less the expected fee {fee_expected} = {pos}): exactly the amount of each of the "
        "sales {deposits}. One of them is missing from the deposit; the files do not say which.",
        "zh": "到账 {deposit} 金额 {bank}，比对应的 {n} 笔消费应到账金额少 {diff}（总额 {gross} "
        "减应扣手续费 {fee_expected} = {pos}）：正好等于 {deposits} 中每一笔的金额。"
        "其中一笔未包含在到账中，但文件无法确定是哪一笔。",
    },
    "adv.cause.deposit_short_one_of": {
        "en": "the acquirer left a sale out of the batch (batch closed early, terminal "
        "settings) or it was delayed on the network",
        "zh": "收单机构未将某笔交易纳入批次（批次提前结算、终端设置问题）或网络延迟",
    },
    "adv.act.deposit_short_one_of": {
        "en": "Ask the acquirer which of the sales {deposits} deposit {deposit} left out, and "
        "whether it will be paid in a later deposit; if not, ask them to settle it.",
        "zh": "请向收单机构确认到账 {deposit} 漏掉了 {deposits} 中的哪一笔，以及是否会在后续到账中"
        "支付；如不会，请要求补结算。",
    },
    "adv.detail.deposit_long": {
        "en": "Deposit {deposit} of {bank} is {diff} more than its {n} sales (gross {gross} "
        "less the expected fee {fee_expected} = {pos}): it holds money the POS has no record of.",
        "zh": "到账 {deposit} 金额 {bank}，比对应的 {n} 笔消费应到账金额多 {diff}（总额 {gross} "
        "减应扣手续费 {fee_expected} = {pos}）：其中有 POS 没有记录的款项。",
    },
    "adv.cause.deposit_long": {
        "en": "a sale the POS did not record (terminal offline or another terminal's batch) or "
        "an error by the acquirer",
        "zh": "有 POS 未记录的交易（终端离线或属于其他终端的批次），或收单机构出错",
    },
    "adv.act.deposit_long": {
        "en": "Ask the acquirer for the batch detail of deposit {deposit}; check whether a "
        "terminal's sales are missing from the POS export; do not spend the {diff} until it is "
        "explained.",
        "zh": "请向收单机构索取到账 {deposit} 的批次明细；检查是否有终端的交易未导出到 POS 记录；"
        "在查明前不要动用多出的 {diff}。",
    },
    "adv.detail.missing_from_deposit": {
        "en": "{Pkind} {sale} of {pos} on {pos_time} at terminal {terminal} is missing from "
        "deposit {deposits}: the deposit is short by exactly its net amount.",
        "zh": "{pos_time} 在终端 {terminal} 的{pkind} {sale}（{pos}）未包含在到账 {deposits} 中："
        "到账金额正好少了这笔{pkind}的净额。",
    },
    "adv.cause.missing_from_deposit": {
        "en": "the acquirer left the {pkind} out of the batch (batch closed early, terminal "
        "settings) or it was delayed on the network",
        "zh": "收单机构未将该笔交易纳入批次（批次提前结算、终端设置问题）或网络延迟",
    },
    "adv.act.missing_from_deposit": {
        "en": "Check the terminal's batch close for {pkind} {sale}, then ask the acquirer "
        "whether it will be paid in a later deposit; if not, ask them to settle it.",
        "zh": "请核对终端对{pkind} {sale} 的批次结算记录，再向收单机构确认是否会在后续到账中支付；"
        "如不会，请要求补结算。",
    },
    "adv.detail.pending": {
        "en": "{Pkind} of {pos} on {pos_time} is due to settle on {expected} under the "
        "settlement calendar; that date is after the end of the bank file.",
        "zh": "{pos_time} 的{pkind} {pos} 按结算日历应于 {expected} 到账；"
        "该日期晚于银行文件的截止日期。",
    },
    "adv.cause.pending": {
        "en": "not due yet (settlement calendar: cut-off, T+N, weekends and holidays)",
        "zh": "尚未到结算日（结算日历：截止时间、T+N、周末及节假日）",
    },
    "adv.act.pending": {
        "en": "Nothing to do yet; reconcile again after {expected}. If it is still unpaid then, "
        "it will be reported as never settled.",
        "zh": "暂时无需处理；请在 {expected} 之后再次对账。届时仍未到账将报告为未结算。",
    },
    # --- deposits section of the reports ----------------------------------------------------
    "dep.title": {"en": "Batch deposits", "zh": "批量到账"},
    "dep.summary": {
        "en": "{n} deposits paid {sales} sales: {matched} as expected, {flagged} with a problem.",
        "zh": "{n} 笔到账对应 {sales} 笔销售：{matched} 笔符合预期，{flagged} 笔有问题。",
    },
    "set.detected": {
        "en": "The bank file looks like daily net deposits: reconciled as batches with cut-off "
        "{cutoff}, T+{t_plus}{closed}. Put these in [settlement] to fix them.",
        "zh": "银行文件看起来是按日净额到账：已按批量结算对账，截止时间 {cutoff}，T+{t_plus}"
        "{closed}。请把这些设置写入 [settlement] 以固定下来。",
    },
    "set.closed": {
        "en": ", no payments on {week}{days}",
        "zh": "，{week}{days}不到账",
    },
    "set.weekends": {"en": "weekends and ", "zh": "周末及"},
    "set.unsure": {
        "en": " The data does not settle every part of this calendar: check it.",
        "zh": " 数据不足以确定全部日历设置，请核对。",
    },
    "set.refund.returned": {
        "en": "Refunds: the acquirer returns their fee (learnt from the deposits).",
        "zh": "退款：收单机构退还手续费（由到账数据得出）。",
    },
    "set.refund.proportional": {
        "en": "Refunds: the acquirer returns the percentage part of their fee (learnt from the "
        "deposits).",
        "zh": "退款：收单机构按比例退还手续费（由到账数据得出）。",
    },
    "set.refund.kept": {
        "en": "Refunds: the acquirer keeps their fee (learnt from the deposits).",
        "zh": "退款：收单机构不退还手续费（由到账数据得出）。",
    },
    "set.rates": {
        "en": "Fees checked against each merchant's usual rate, learnt from its deposits "
        "({n} merchants, {span}).",
        "zh": "手续费按各商户的常用费率核对，费率由其到账数据得出（{n} 个商户，{span}）。",
    },
    "dep.c.group_id": {"en": "Group", "zh": "组号"},
    "dep.c.status": {"en": "Status", "zh": "状态"},
    "dep.c.bank_ids": {"en": "Deposit", "zh": "到账记录"},
    "dep.c.deposit_day": {"en": "Paid on", "zh": "到账日期"},
    "dep.c.merchant": {"en": "Merchant", "zh": "商户"},
    "dep.c.batch": {"en": "Batch", "zh": "批次号"},
    "dep.c.n_sales": {"en": "Sales", "zh": "笔数"},
    "dep.c.gross": {"en": "Gross", "zh": "交易总额"},
    "dep.c.fee_expected": {"en": "Expected fee", "zh": "应扣手续费"},
    "dep.c.fee_charged": {"en": "Fee charged", "zh": "实扣手续费"},
    "dep.c.deposit": {"en": "Net paid", "zh": "到账净额"},
    "dep.c.currency": {"en": "Currency", "zh": "币种"},
    "dep.c.pos_ids": {"en": "Sales paid", "zh": "包含的销售"},
    "dep.s.matched": {"en": "as expected", "zh": "符合"},
    "dep.s.split": {"en": "paid in parts", "zh": "分笔到账"},
    "dep.s.late": {"en": "paid late", "zh": "延迟到账"},
    "dep.s.missing": {"en": "sale(s) missing", "zh": "缺少销售"},
    "dep.s.extra": {"en": "holds a sale of another batch", "zh": "含其他批次的销售"},
    "dep.s.moved": {"en": "a sale paid in another deposit", "zh": "有销售在其他到账中支付"},
    "dep.s.fee_mismatch": {"en": "fee mismatch", "zh": "手续费不符"},
    "dep.s.short": {"en": "short", "zh": "少到账"},
    "dep.s.long": {"en": "long", "zh": "多到账"},
    "dep.sales_one": {"en": "1 sale", "zh": "1 笔销售"},
    "dep.sales_many": {"en": "{n} sales", "zh": "{n} 笔销售"},
    "dep.more_ids": {"en": "… and {n} more", "zh": "……另有 {n} 笔"},
    "dep.cap_note": {
        "en": "Showing the first {shown} of {total} deposits (problems first); "
        "<code>{file}</code> holds them all.",
        "zh": "仅显示 {total} 笔到账中的前 {shown} 笔（有问题的在前）；"
        "<code>{file}</code> 包含全部。",
    },
    "dep.term_more": {
        "en": "... and {n} more in deposits.csv",
        "zh": "……其余 {n} 笔见 deposits.csv",
    },
    "dep.md_line": {
        "en": "net paid {deposit} vs gross {gross} less expected fee {fee_expected} "
        "(fee charged {fee_charged})",
        "zh": "到账净额 {deposit}，交易总额 {gross} 减应扣手续费 {fee_expected}"
        "（实扣手续费 {fee_charged}）",
    },
    "dep.md_more": {
        "en": "… and {n} more flagged deposits in deposits.csv.",
        "zh": "……其余 {n} 笔有问题的到账见 deposits.csv。",
    },
    "xlsx.c.group_id": {"en": "group_id", "zh": "组号"},
    "xlsx.c.business_day": {"en": "business_day", "zh": "营业日"},
    "xlsx.c.expected": {"en": "expected", "zh": "应到账日期"},
    "xlsx.c.n_sales": {"en": "n_sales", "zh": "笔数"},
    "xlsx.c.gross": {"en": "gross", "zh": "交易总额"},
    "xlsx.c.fee_expected": {"en": "fee_expected", "zh": "应扣手续费"},
    "xlsx.c.fee_charged": {"en": "fee_charged", "zh": "实扣手续费"},
    "xlsx.c.deposit": {"en": "deposit", "zh": "到账净额"},
    # --- findings: terminal- and pattern-level conclusions (recon.findings) -----------------
    "find.title": {"en": "Findings", "zh": "结论"},
    "find.terminal_currency": {
        "en": "Terminal {terminal} settles in {bank} while the POS records {pos} ({n} items): "
        "check the terminal's currency setting with the POS vendor",
        "zh": "终端 {terminal} 按 {bank} 结算，而 POS 记录的是 {pos}（{n} 项）："
        "请联系 POS 厂商检查该终端的币种设置",
    },
    "find.terminal_clock": {
        "en": "Terminal {terminal}'s clock runs about {offset} ahead of the bank's ({n} pairs): "
        "set the terminal's date and time",
        "zh": "终端 {terminal} 的时钟比银行快约 {offset}（{n} 对记录）：请校正该终端的日期和时间",
    },
    "find.dur_hm": {"en": "{h} h {m} min", "zh": "{h} 小时 {m} 分"},
    "find.dur_dhm": {"en": "{d} d {h} h {m} min", "zh": "{d} 天 {h} 小时 {m} 分"},
    "find.refund_exceeds_sale": {
        "en": "Refund {refund_id} of {refund} at terminal {terminal} is larger than the sale it "
        "refunds ({sale_id}, {sale}): suspected fraud; check who keyed it and report it to the "
        "acquiring bank",
        "zh": "终端 {terminal} 的退款 {refund_id}（{refund}）大于其原销售（{sale_id}，{sale}）："
        "疑似欺诈，请核查操作人员并向收单银行报告",
    },
    "find.outside_hours_pos": {
        "en": "{n} POS sales outside the shop's hours {hours} ({ids}): suspected fraud; "
        "check who used the terminal then",
        "zh": "{n} 笔 POS 销售发生在营业时间 {hours} 之外（{ids}）："
        "疑似欺诈，请核查当时谁在使用终端",
    },
    "find.outside_hours_bank": {
        "en": "{n} bank debits with no POS record outside the shop's hours {hours} ({ids}): "
        "suspected fraud; report them to the acquiring bank",
        "zh": "{n} 笔无 POS 记录的银行扣款发生在营业时间 {hours} 之外（{ids}）：疑似欺诈，"
        "请向收单银行报告",
    },
    "find.and_more": {"en": ", ...", "zh": "等"},
    # --- rejection reasons (recon.reasons) ------------------------------------------------
    # The English is the loader's own sentence (rejected.csv keeps it); recon.reasons matches
    # it and writes the other language with the same values in the same places.
    "rej.time_empty": {"en": "time is empty", "zh": "时间为空"},
    "rej.time_format": {
        "en": "time '{value}' does not match {formats}",
        "zh": "时间 '{value}' 不符合格式 {formats}",
    },
    "rej.time_iso": {
        "en": "time '{value}' is not an ISO 8601 date or date/time",
        "zh": "时间 '{value}' 不是 ISO 8601 格式的日期或日期时间",
    },
    "rej.or": {"en": " or ", "zh": " 或 "},
    "rej.amount_both_empty": {
        "en": "amount is empty (both income and expense columns are empty)",
        "zh": "金额为空（收入列和支出列都为空）",
    },
    "rej.money_empty": {"en": "{label} is empty", "zh": "{label}为空"},
    "rej.money_not_number": {
        "en": "{label} is not a number: '{value}'",
        "zh": "{label}不是数字：'{value}'",
    },
    "rej.money_too_large": {
        "en": "{label} is too large",
        "zh": "{label}过大，超出可处理的范围",
    },
    "rej.money_decimals": {
        "en": "{label} '{value}' has more decimals than {currency} allows ({digits})",
        "zh": "{label} '{value}' 的小数位超过 {currency} 允许的位数（{digits} 位）",
    },
    "rej.its_currency": {"en": "its currency", "zh": "其币种"},
    "rej.label.amount": {"en": "amount", "zh": "金额"},
    "rej.label.income_amount": {"en": "income amount", "zh": "收入金额"},
    "rej.label.expense_amount": {"en": "expense amount", "zh": "支出金额"},
    "rej.label.fee": {"en": "fee", "zh": "手续费"},
    "rej.label.value_date": {"en": "value date", "zh": "起息日"},
    "rej.currency_missing": {
        "en": "currency missing and no default_currency in profile",
        "zh": "缺少币种，且格式配置中没有设置默认币种（default_currency）",
    },
    "rej.currency_not_iso": {
        "en": "currency '{value}' is not an ISO 4217 code",
        "zh": "币种 '{value}' 不是 ISO 4217 币种代码",
    },
    "rej.kind_unknown": {
        "en": "unknown kind '{value}' (expected {expected})",
        "zh": "未知的交易类型 '{value}'（应为 {expected}）",
    },
    "rej.dc_flag": {
        "en": "debit/credit flag '{value}' is not one of {choices}",
        "zh": "借贷标志 '{value}' 不是 {choices} 之一",
    },
    "rej.fields": {
        "en": "expected {expected} fields, found {found}",
        "zh": "字段数不符：应为 {expected} 个，实际为 {found} 个",
    },
    "rej.zm_length": {
        "en": "UnionPay ZM record is {length} bytes, expected {expected}",
        "zh": "银联 ZM 记录长 {length} 字节，应为 {expected} 字节",
    },
    "rej.zm_positions": {
        "en": "not a UnionPay ZM record: fields not at their fixed positions",
        "zh": "不是银联 ZM 记录：字段不在固定位置上",
    },
    "rej.zm_shape": {
        "en": "UnionPay ZM field {name} is not of its shape",
        "zh": "银联 ZM 字段 {name} 的格式不正确",
    },
    "rej.zm_date": {
        "en": "UnionPay ZM 交易传输时间 '{value}' is not a date",
        "zh": "银联 ZM 交易传输时间 '{value}' 不是有效的日期",
    },
    "rej.bai2_no_account": {
        "en": "BAI2 16 record outside an account (no 03 record before it)",
        "zh": "BAI2 16 记录不属于任何账户（前面没有 03 记录）",
    },
    "rej.bai2_no_date": {
        "en": "BAI2 16 record in a group without a valid as-of date (02 record)",
        "zh": "BAI2 16 记录所在的组没有有效的日期（02 记录）",
    },
    "rej.bai2_unreadable": {
        "en": "cannot read BAI2 16 record: {error}",
        "zh": "无法读取 BAI2 16 记录：{error}",
    },
    "rej.mt940_without": {
        "en": "MT940 :61: line without {label}",
        "zh": "MT940 :61: 行缺少{label}",
    },
    "rej.mt940_unreadable": {
        "en": "cannot read MT940 entry: {error}",
        "zh": "无法读取 MT940 条目：{error}",
    },
    "rej.mt940_count": {
        "en": "parsed {parsed} entries from {lines} :61: lines",
        "zh": "解析出 {parsed} 个条目，但有 {lines} 个 :61: 行",
    },
    "rej.camt_no_amt": {"en": "entry has no Amt", "zh": "条目缺少金额（Amt）"},
    "rej.camt_mark": {
        "en": "CdtDbtInd '{value}' is not CRDT or DBIT",
        "zh": "借贷标记 CdtDbtInd '{value}' 不是 CRDT 或 DBIT",
    },
    "rej.camt_no_mark": {"en": "no CdtDbtInd", "zh": "缺少借贷标记（CdtDbtInd）"},
    "rej.camt_no_date": {
        "en": "entry has no booking or value date",
        "zh": "条目缺少记账日期和起息日",
    },
    "rej.ofx_no_amount": {"en": "transaction has no TRNAMT", "zh": "交易缺少金额（TRNAMT）"},
    "rej.ofx_amount": {
        "en": "TRNAMT '{value}' is not a decimal number",
        "zh": "金额 TRNAMT '{value}' 不是十进制数字",
    },
    "rej.ofx_no_date": {
        "en": "transaction has no DTPOSTED",
        "zh": "交易缺少记账日期（DTPOSTED）",
    },
    # --- recon investigate: the case file of one transfer (recon.investigate, report.case) ---
    # the query
    "case.q.reference": {"en": "reference {value}", "zh": "参考号 {value}"},
    "case.q.id": {"en": "id {value}", "zh": "记录号 {value}"},
    "case.q.amount": {"en": "amount {value}", "zh": "金额 {value}"},
    "case.q.date": {"en": "date {value}", "zh": "日期 {value}"},
    "case.q.last4": {"en": "card ending {value}", "zh": "卡号末四位 {value}"},
    "case.q.terminal": {"en": "terminal {value}", "zh": "终端 {value}"},
    "case.q.time": {"en": "time {value}", "zh": "时间 {value}"},
    "case.list_sep": {"en": ", ", "zh": "，"},
    "case.sep": {"en": "; ", "zh": "；"},
    # where the decisions come from
    "case.decided.full": {
        "en": "a reconciliation of the whole files ({rows} records), as the day's run makes it",
        "zh": "对整份文件（{rows} 条记录）完整对账，与当天对账的结论一致",
    },
    "case.decided.recomputed": {
        "en": "recomputed on these records only (pass --results DIR for the decisions "
        "of the day's full run)",
        "zh": "仅根据这些记录重新计算（加上 --results 目录，可采用当天完整对账的结论）",
    },
    "case.decided.results": {
        "en": "the run whose results are in {dir}",
        "zh": "结果保存在 {dir} 的那次对账",
    },
    # what recon decided about one record
    "case.dec.voided": {
        "en": "cancelled by its void and never settled (voided)",
        "zh": "已被撤销交易取消，且从未结算（已撤销）",
    },
    "case.dec.matched": {
        "en": "matched to {partner} by rule {rule}",
        "zh": "按规则 {rule} 与 {partner} 匹配",
    },
    "case.dec.matched_after": {
        "en": "matched to {partner} by rule {rule}, {days} days after the sale",
        "zh": "按规则 {rule} 与 {partner} 匹配，在销售后 {days} 天结算",
    },
    "case.dec.flagged": {
        "en": "flagged {type} ({severity}) as {item_id}",
        "zh": "标记为 {type}（{severity}），差异编号 {item_id}",
    },
    "case.dec.none": {"en": "not matched and not flagged", "zh": "未匹配，也未被标记"},
    # why a nearby record of the other side did not match
    "case.why.currency": {
        "en": "currency {theirs} vs {mine}",
        "zh": "币种不同：{theirs} 与 {mine}",
    },
    "case.why.amount": {
        "en": "amount off by {diff} (bank minus POS)",
        "zh": "金额相差 {diff}（银行减 POS）",
    },
    "case.why.early": {
        "en": "settled {hours} h before the sale",
        "zh": "结算时间比销售早 {hours} 小时",
    },
    "case.why.window": {
        "en": "outside the {window}-day window by {days} days",
        "zh": "超出 {window} 天的匹配时间窗口 {days} 天",
    },
    "case.why.card": {
        "en": "card's last 4 digits differ at digit {positions} ({theirs} vs {mine})",
        "zh": "卡号末四位的第 {positions} 位不同（{theirs} 与 {mine}）",
    },
    "case.why.reference": {
        "en": "reference {theirs} vs {mine}",
        "zh": "参考号不同：{theirs} 与 {mine}",
    },
    "case.why.taken": {
        "en": "already matched to another record",
        "zh": "已与另一条记录匹配",
    },
    "case.why.none": {"en": "no difference found", "zh": "未发现差异"},
    # the case file's words
    "case.transfer": {"en": "Transfer: {query}", "zh": "交易：{query}"},
    "case.decisions": {"en": "Decisions: {by}", "zh": "结论来源：{by}"},
    "case.ref": {"en": "ref {reference}", "zh": "参考号 {reference}"},
    "case.finding": {
        "en": "{item_id} {type} ({severity}): {detail}",
        "zh": "{item_id} {type}（{severity}）：{detail}",
    },
    "case.md_finding": {
        "en": "**{type}** ({severity}, {item_id}): {detail}",
        "zh": "**{type}**（{severity}，{item_id}）：{detail}",
    },
    "case.html_finding": {
        "en": "<b>{type}</b> ({severity}, {item_id}): {detail}",
        "zh": "<b>{type}</b>（{severity}，{item_id}）：{detail}",
    },
    "case.cause": {"en": "Probable cause: ", "zh": "可能原因："},
    "case.do": {"en": "Do: ", "zh": "处理："},
    "case.action": {"en": "Suggested action: ", "zh": "建议处理："},
    "case.candidates": {
        "en": "Nearest candidates of unmatched records, and why they did not match:",
        "zh": "未匹配记录最接近的候选记录，以及未能匹配的原因：",
    },
    "case.candidate": {
        "en": "{record} ~ {candidate}: {why}",
        "zh": "{record} ~ {candidate}：{why}",
    },
    "case.history": {
        "en": "history {day}: {type} {status}{done}",
        "zh": "历史 {day}：{type} {status}{done}",
    },
    "case.resolved_by": {"en": ", resolved by {by}: {note}", "zh": "，由 {by} 解决：{note}"},
    "case.md_history": {
        "en": "{day}: {type} ({severity}) {status}{done}",
        "zh": "{day}：{type}（{severity}）{status}{done}",
    },
    "case.resolved_at": {
        "en": "; resolved {at} by {by}: {note}",
        "zh": "；{at} 由 {by} 解决：{note}",
    },
    "case.pair": {"en": "{label}: {value}", "zh": "{label}：{value}"},
    "case.evidence": {"en": "Evidence: {query}", "zh": "证据：{query}"},
    "case.prepared": {
        "en": "Prepared by recon {version}. Decisions: {by}.",
        "zh": "由 recon {version} 生成。结论来源：{by}。",
    },
    "case.h_records": {"en": "Records", "zh": "记录"},
    "case.h_wrong": {"en": "What went wrong", "zh": "问题所在"},
    "case.nothing": {
        "en": "Nothing: every record was matched.",
        "zh": "没有问题：所有记录均已匹配。",
    },
    "case.h_why_not": {
        "en": "Why the nearest candidates did not match",
        "zh": "最接近的候选记录为何未能匹配",
    },
    "case.h_nearest": {"en": "Nearest candidates", "zh": "最接近的候选记录"},
    "case.h_history": {"en": "History (state store)", "zh": "历史记录（状态库）"},
    "case.h_contacts": {"en": "Contacts", "zh": "联系人"},
    "case.h_sources": {"en": "Source files", "zh": "源文件"},
    "case.written": {"en": "Evidence written to {path}", "zh": "证据文件已写入 {path}"},
    "case.not_found": {
        "en": "recon: no record matches {query} in the given files",
        "zh": "recon：给定的文件中没有与 {query} 相符的记录",
    },
    # the records table's columns (English: the field name)
    "case.c.time": {"en": "time", "zh": "时间"},
    "case.c.side": {"en": "side", "zh": "来源"},
    "case.c.id": {"en": "id", "zh": "记录号"},
    "case.c.kind": {"en": "kind", "zh": "交易类型"},
    "case.c.amount": {"en": "amount", "zh": "金额"},
    "case.c.reference": {"en": "reference", "zh": "参考号"},
    "case.c.terminal": {"en": "terminal", "zh": "终端"},
    "case.c.account": {"en": "account", "zh": "卡号"},
    "case.c.decision": {"en": "decision", "zh": "结论"},
    # values shown as words in zh (the stored values stay as they are)
    "case.kind.sale": {"en": "sale", "zh": "销售"},
    "case.kind.refund": {"en": "refund", "zh": "退款"},
    "case.kind.void": {"en": "void", "zh": "撤销"},
    "case.kind.reversal": {"en": "reversal", "zh": "冲正"},
    "case.kind.credit": {"en": "credit", "zh": "入账"},
    "case.kind.debit": {"en": "debit", "zh": "扣款"},
    "case.status.new": {"en": "new", "zh": "新增"},
    "case.status.escalated": {"en": "escalated", "zh": "已升级"},
    "case.status.carried": {"en": "carried", "zh": "仍未解决"},
    "case.status.closed": {"en": "closed", "zh": "已关闭"},
    "case.contact.acquirer": {"en": "acquirer", "zh": "收单银行"},
    "case.contact.pos_vendor": {"en": "pos_vendor", "zh": "POS服务商"},
    "case.contact.responsible": {"en": "responsible", "zh": "负责人"},
}


def t(key: str, lang: str, **fmt: object) -> str:
    """The text of `key` in `lang` (English when that language lacks it), formatted with `fmt`."""
    entry = TEXT[key]
    text = entry.get(lang) or entry[DEFAULT_LANG]
    return text.format(**fmt) if fmt else text


def type_label(typ: str, lang: str) -> str:
    """A discrepancy type for people: the raw type, with its translation next to it in zh."""
    key = f"type.{typ}"
    if lang == DEFAULT_LANG or key not in TEXT:
        return typ
    return f"{typ} {t(key, lang)}"


def sev_label(sev: str, lang: str) -> str:
    """A severity for people: the stored value, with its translation next to it in zh."""
    key = f"sev.{sev}"
    if lang == DEFAULT_LANG or key not in TEXT:
        return sev
    return f"{sev} {t(key, lang)}"


def env_lang(environ: Mapping[str, str] | None = None) -> str:
    """The language the environment asks for: the first of LC_ALL, LC_MESSAGES, LANG that is
    set; "zh" when it starts with "zh", else "en"."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return DEFAULT_LANG
