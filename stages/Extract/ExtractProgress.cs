using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace BottleneckPipeline.Extract;

/// <summary>
/// Shows extraction progress: a live bar with rate and ETA when stdout is a terminal, otherwise a
/// plain line about every 5 seconds (logs and CI stay readable).
/// </summary>
internal static class ExtractProgress
{
    public static T Run<T>(string label, int total, Func<Action<int>, T> body)
    {
        if (total == 0) return body(_ => { });
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive) return RunPlain(label, total, body);
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(label, maxValue: total);
                var clock = Stopwatch.StartNew();
                result = body(done =>
                {
                    task.Value = done;
                    task.Description = $"{label} {done}/{total} {Rate(done, clock):0.0} img/s";
                });
            });
        return result;
    }

    private static T RunPlain<T>(string label, int total, Func<Action<int>, T> body)
    {
        var clock = Stopwatch.StartNew();
        var last = TimeSpan.Zero;
        return body(done =>
        {
            if (clock.Elapsed - last < TimeSpan.FromSeconds(5) && done < total) return;
            last = clock.Elapsed;
            var rate = Rate(done, clock);
            var eta = rate > 0 ? (total - done) / rate : 0;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{label}: {done}/{total} ({100.0 * done / total:0}%), {rate:0.0} img/s, ETA {eta:0} s"));
        });
    }

    private static double Rate(int done, Stopwatch clock) => done / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
}
