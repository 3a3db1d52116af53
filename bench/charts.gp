# Charts of the benchmark (run in the results directory by run.sh).
set terminal svg size 720,420 dynamic font "sans,12" background "#ffffff"
set termoption noenhanced
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set grid ytics
set key below horizontal
set boxwidth 0.9

set output "overhead.svg"
set title "Added cost per login over the baseline (median, sequential logins)"
set ylabel "microseconds"
load "ncols.gp"
plot for [i=2:cols] "overhead.dat" using i:xtic(1) title columnhead(i)

set output "concurrency.svg"
set yrange [0:*]
set title "Throughput with concurrent logins (mixed scenario)"
set ylabel "logins per second"
set xlabel "concurrent login processes"
plot for [i=2:ccols:2] "concurrency.dat" using i:xtic(1) \
  title columnhead(i)
unset xlabel

set output "concurrency-p99.svg"
set title "p99 latency per login with concurrent logins (mixed scenario)"
set ylabel "milliseconds"
set xlabel "concurrent login processes"
plot for [i=3:ccols:2] "concurrency.dat" using i:xtic(1) \
  title columnhead(i)
unset xlabel

set output "bigstore.svg"
set title "Login cost: empty store vs 100,000 subjects + 1,000,000 attempts"
set ylabel "milliseconds per login"
plot "bigstore.dat" using 2:xtic(1) title "median", \
     "" using 3 title "p99"

set output "profile.svg"
set format y "%.0f"
set title "Instructions per PAM step (callgrind, inside pam_sm_authenticate)"
set ylabel "instructions"
plot "profile.dat" using 2:xtic(1) title "pam_defender before", \
     "" using 3 title "pam_defender after", \
     "" using 4 title "pam_faillock"
