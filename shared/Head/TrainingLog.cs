using System.Globalization;
using System.Text;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Head;

/// <summary>One evaluation point of the training log.</summary>
public sealed record TrainingLogRow(int Step, double TrainLoss, double TrainAccuracy, double ValidationLoss, double ValidationAccuracy);

/// <summary>reports/training_log.csv, TrainHead's artifact: one row per validation evaluation.</summary>
public static class TrainingLog
{
    public const string CsvHeader = "step,train_loss,train_accuracy,val_loss,val_accuracy";

    /// <summary>Where TrainHead writes the log and later stages read it.</summary>

    public static void WriteCsv(string path, IReadOnlyList<TrainingLogRow> log)
    {
        var sb = new StringBuilder(CsvHeader).Append('\n');
        foreach (var r in log)
            sb.Append(r.Step.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(Number(r.TrainLoss)).Append(',').Append(Number(r.TrainAccuracy)).Append(',')
              .Append(Number(r.ValidationLoss)).Append(',').Append(Number(r.ValidationAccuracy)).Append('\n');
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    /// <summary>Empty field when a figure does not exist (no validation split).</summary>
    private static string Number(double v) => double.IsNaN(v) ? "" : v.ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>
    /// The rows of a log written by <see cref="WriteCsv"/>; null when the file is missing or not
    /// such a log (it only illustrates a report, so a reader shows its absence rather than failing).
    /// </summary>
    public static IReadOnlyList<TrainingLogRow>? TryRead(string path)
    {
        string[] lines;
        try
        {
            if (!File.Exists(path)) return null;
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        if (lines.Length == 0 || lines[0] != CsvHeader) return null;
        var rows = new List<TrainingLogRow>();
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var cells = line.Split(',');
            if (cells.Length != 5 || !int.TryParse(cells[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var step)) return null;
            var values = new double[4];
            for (var i = 0; i < 4; i++)
            {
                if (cells[i + 1].Length == 0) values[i] = double.NaN;
                else if (!double.TryParse(cells[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i])) return null;
            }
            rows.Add(new TrainingLogRow(step, values[0], values[1], values[2], values[3]));
        }
        return rows;
    }
}
