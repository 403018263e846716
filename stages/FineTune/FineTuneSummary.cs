namespace BottleneckPipeline.FineTune;

/// <summary>What one FineTune run did: the content of reports/fine_tune.json.</summary>
internal sealed class FineTuneSummary
{
    public string Trainable { get; set; } = "";
    public string CutTensor { get; set; } = "";
    public long[] CutShape { get; set; } = [];
    public long TrainableWeights { get; set; }
    public int TrainImages { get; set; }
    public int ValidationImages { get; set; }
    public string? PrefixFingerprint { get; set; }
    public int PrefixComputed { get; set; }
    public int PrefixReused { get; set; }
    public double PrefixSeconds { get; set; }
    public long PrefixBytesPerView { get; set; }
    public int ResumedAfterEpoch { get; set; }
    public double StartValidationLoss { get; set; } = double.NaN;
    public double StartValidationAccuracy { get; set; } = double.NaN;
    public int BestEpoch { get; set; }
    public bool StoppedEarly { get; set; }
    public double TrainingSeconds { get; set; }
    public double Seconds { get; set; }
    /// <summary>The process's peak resident memory so far, in MB of 2^20 bytes, as the bench and /usr/bin/time count them
    /// (batch size and trainable depth drive it).</summary>
    public double PeakMemoryMb { get; set; }
    public string BackboneFingerprint { get; set; } = "";
    public IReadOnlyList<EpochRow> Log { get; set; } = [];
}
