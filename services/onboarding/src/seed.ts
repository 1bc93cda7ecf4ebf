// Demo data for `npm start`: colleagues of the demo company who opted in as buddies, and hr@ as the owner of HR
// steps. Their directory fields arrive with the people service's employee.hired events; journeys start from those
// events by themselves.
import { demoUserObjectId } from "@hearth/platform";
import type { EntityManager } from "@mikro-orm/core";
import { sql, T } from "./store.ts";

const DOMAIN = "contoso.example";

const BUDDIES: Array<[string, string[], string[], number]> = [
  ["jonas.weber", ["climbing", "board games", "rust"], ["de", "en"], 2],
  ["lena.fischer", ["running", "photography"], ["de", "en"], 1],
  ["olivia.brown", ["cooking", "hiking", "kubernetes"], ["en"], 2],
  ["tom.walker", ["football", "podcasts"], ["en"], 1],
  ["chloe.evans", ["illustration", "hiking"], ["en", "fr"], 2],
  ["julie.moreau", ["tennis", "wine"], ["fr", "en"], 1],
  ["felix.wagner", ["climbing", "writing"], ["de", "en"], 3],
  ["liam.anderson", ["basketball", "cooking"], ["en", "es"], 2],
  ["max.hoffmann", ["board games", "cycling"], ["de", "en"], 2],
  ["grace.taylor", ["running", "chess"], ["en"], 1],
];

/** Only what is missing: a second run changes nothing. */
export async function seedDemoOnboarding(em: EntityManager, tenantId: string): Promise<number> {
  let created = 0;
  for (const [local, interests, languages, capacity] of BUDDIES) {
    const rows = await sql(
      em,
      `insert into ${T("buddy_profiles")} (employee_id, tenant_id, opted_in, interests, languages, capacity,
         active, manager_chain, updated_at)
       values (?, ?, true, ?, ?, ?, true, '[]', now()) on conflict (employee_id) do nothing returning employee_id`,
      [
        demoUserObjectId(`${local}@${DOMAIN}`),
        tenantId,
        JSON.stringify(interests),
        JSON.stringify(languages),
        capacity,
      ],
    );
    created += rows.length;
  }
  const settings = await sql(
    em,
    `insert into ${T("settings")} (tenant_id, config, updated_at) values (?, ?, now())
     on conflict (tenant_id) do nothing returning tenant_id`,
    [tenantId, JSON.stringify({ hrOwnerIds: [demoUserObjectId(`hr@${DOMAIN}`)] })],
  );
  return created + settings.length;
}
