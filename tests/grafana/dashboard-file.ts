// The shape of a tidewatch dashboard file, built from Grafana's own published types (npm @grafana/schema,
// pinned in package.json): the dashboard and panel models, and the options and per-field settings of each
// panel kind the dashboards use. tests/integration/test_grafana_schema.py writes every dashboard as a
// TypeScript object literal checked with `satisfies DashboardFile`, so an unknown key, a misspelt enum
// value or an unknown panel kind fails the type check, as Grafana itself is not available here.
import type * as Board from '@grafana/schema/dist/esm/raw/dashboard/x/Dashboard_types.gen';
import type * as Geomap from '@grafana/schema/dist/esm/raw/composable/geomap/panelcfg/x/GeomapPanelCfg_types.gen';
import type * as Stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as StateTimeline from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';
import type * as Table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as TimeSeries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

/** A type as it is written in JSON: an enum member is its string value. */
export type Json<T> = T extends string
  ? `${T}`
  : T extends Array<infer U>
    ? Array<Json<U>>
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;

/** Options as a file may give them: Grafana fills in what is left out, but no key is unknown. */
export type Loose<T> = T extends string
  ? `${T}`
  : T extends Array<infer U>
    ? Array<Loose<U>>
    : T extends object
      ? { [K in keyof T]?: Loose<T[K]> }
      : T;

/** A panel of one kind with that kind's own options and per-field settings. */
type PanelOf<Kind extends string, Options, Custom = Record<string, never>> = Omit<
  Json<Board.Panel>,
  'type' | 'options' | 'fieldConfig'
> & {
  type: Kind;
  options?: Loose<Options>;
  fieldConfig?: Omit<Json<Board.FieldConfigSource>, 'defaults'> & {
    defaults: Omit<Json<Board.FieldConfig>, 'custom'> & { custom?: Loose<Custom> };
  };
};

export type KnownPanel =
  | PanelOf<'timeseries', TimeSeries.Options, TimeSeries.FieldConfig>
  | PanelOf<'stat', Stat.Options>
  | PanelOf<'table', Table.Options, Table.FieldConfig>
  | PanelOf<'geomap', Geomap.Options>
  | PanelOf<'state-timeline', StateTimeline.Options, StateTimeline.FieldConfig>
  | Omit<Json<Board.RowPanel>, 'panels'> & { panels: KnownPanel[] };

export type DashboardFile = Omit<Json<Board.Dashboard>, 'panels'> & { panels: KnownPanel[] };
