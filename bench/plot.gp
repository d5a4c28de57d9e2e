# bench/plot.gp: throughput and latency of journeyd against offered rate
# (called by bench/report.py with -e "datafile=...; outfile=...; raw=...;
# full=...; rev=..."). Columns of datafile: offered achieved raw_p50
# raw_p99 j_p50 j_p99 j_p999.
set terminal pngcairo size 1200,520 font ",10"
set output outfile
set multiplot layout 1,2 title sprintf("journeyd bench (rev %s): same run, same machine", rev)

set title "throughput vs offered rate"
set xlabel "offered events/s"
set ylabel "events/s"
set key top left
set grid
set xrange [0:*]
set yrange [0:*]
plot datafile using 1:1 with lines dt 2 lc rgb "#888888" title "offered", \
     datafile using 1:2 with linespoints pt 7 lc rgb "#c0392b" title "journeyd achieved", \
     full with lines lc rgb "#c0392b" dt 3 title sprintf("journeyd from a backlog: %.0f/s", full), \
     NaN with lines lc rgb "#27ae60" title sprintf("raw consume ceiling: %.0f/s (off scale)", raw)

set title "event-to-trigger latency vs offered rate"
set ylabel "ms (log)"
set logscale y
set yrange [1:*]
set key bottom right
plot datafile using 1:5 with linespoints pt 7 lc rgb "#c0392b" title "journeyd p50", \
     datafile using 1:6 with linespoints pt 5 lc rgb "#8e44ad" title "journeyd p99", \
     datafile using 1:7 with linespoints pt 9 lc rgb "#2c3e50" title "journeyd p999", \
     datafile using 1:3 with linespoints pt 6 dt 2 lc rgb "#27ae60" title "raw produce->consume p50", \
     datafile using 1:4 with linespoints pt 4 dt 2 lc rgb "#16a085" title "raw p99", \
     50 with lines dt 3 lc rgb "#888888" title "target p99 50 ms"
unset multiplot
