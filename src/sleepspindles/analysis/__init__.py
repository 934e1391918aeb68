"""From events and signals to the numbers a study reports.

:mod:`.summary` (count, density per analysed minute and mean properties per channel x stage x
band), :mod:`.spectral` (band power over chosen stages), :mod:`.laterality` (contralateral vs
ipsilateral per electrode pair, D and LI) and :mod:`.stats` (cohort statistics). Arrays and
tables in, tables out: nothing here reads or writes a file.
"""
