using System.Globalization;
using System.Text;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Head;

/// <summary>One evaluation point of the training log.</summary>
public sealed record TrainingLogRow(int Step, double TrainLoss, double TrainAccuracy, double ValidationLoss, double ValidationAccuracy);

/// <summary>reports/training_log.csv, TrainHead's artifact: one row per validation evaluation.</summary>
public static class TrainingLog
{
    public const string CsvHeader = "step,train_loss,train_accuracy,val_loss,val_accuracy";

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
}
