using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// Shows a phase's progress (the prefix cache fill, each epoch) as Extract does: a live bar with
/// rate and ETA when stdout is a terminal, otherwise a plain line about every 5 seconds and at the end.
/// </summary>
internal static class FineTuneProgress
{
    /// <param name="body">Gets a reporter of (label, done, total, images done).</param>
    public static T Run<T>(Func<Action<string, int, int, int>, T> body)
    {
        if (Plain) return RunPlain(body);
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                ProgressTask? task = null;
                string? current = null;
                var clock = Stopwatch.StartNew();
                result = body((label, done, total, images) =>
                {
                    if (label != current)
                    {
                        if (task is not null) task.Value = task.MaxValue;
                        task = ctx.AddTask(label, maxValue: total);
                        current = label;
                        clock.Restart();
                    }
                    task!.Value = done;
                    var rate = images / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
                    task.Description = string.Create(CultureInfo.InvariantCulture, $"{label} {done}/{total} {rate:0.0} img/s");
                });
            });
        return result;
    }

    /// <summary>
    /// A line among the progress (an epoch's result): above the live bar on a terminal, where Spectre keeps the bar
    /// below it; otherwise a plain line, as the other stages print. Spectre would break it at 80 columns, the width it
    /// assumes when stdout is a file or a pipe, and a make log would hold one line in two.
    /// </summary>
    public static void WriteLine(string line)
    {
        if (Plain) Console.WriteLine(line);
        else AnsiConsole.WriteLine(line);
    }

    /// <summary>Plain lines, no live display: stdout is a file or a pipe, or a terminal Spectre cannot redraw.</summary>
    private static bool Plain => Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive;

    private static T RunPlain<T>(Func<Action<string, int, int, int>, T> body)
    {
        var clock = Stopwatch.StartNew();
        var last = TimeSpan.Zero;
        string? current = null;
        return body((label, done, total, images) =>
        {
            if (label != current) { current = label; clock.Restart(); last = TimeSpan.Zero; }
            if (clock.Elapsed - last < TimeSpan.FromSeconds(5) && done < total) return;
            last = clock.Elapsed;
            var seconds = Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            var eta = done > 0 ? (total - done) * seconds / done : 0;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{label}: {done}/{total} ({100.0 * done / total:0}%), {images / seconds:0.0} img/s, ETA {eta:0} s"));
        });
    }
}
